"""The "New invoice run" form: one cutoff day."""

from django import forms
from django.utils import timezone


class InvoiceRunForm(forms.Form):
    cutoff = forms.DateField(
        label="Cutoff",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        initial=timezone.localdate,
        help_text="CDRs that ended before 00:00 UTC of this day are invoiced.",
    )

    def clean_cutoff(self):
        cutoff = self.cleaned_data["cutoff"]
        if cutoff > timezone.now().date():
            raise forms.ValidationError("Choose today or an earlier day: sessions still end.")
        return cutoff
