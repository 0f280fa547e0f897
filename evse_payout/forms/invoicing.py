"""The "New invoice run" form: one cutoff day."""

from django import forms
from django.conf import settings
from django.utils import timezone

from ..services.invoicing import business_time_zone


class InvoiceRunForm(forms.Form):
    cutoff = forms.DateField(
        label="Cutoff",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cutoff"].help_text = (
            f"CDRs that ended before 00:00 of this day ({settings.BUSINESS_TIME_ZONE}) are "
            "invoiced."
        )

    def clean_cutoff(self):
        cutoff = self.cleaned_data["cutoff"]
        if cutoff > timezone.localdate(timezone=business_time_zone()):
            raise forms.ValidationError("Choose today or an earlier day: sessions still end.")
        return cutoff
