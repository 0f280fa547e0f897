"""The bulk "Rerate CDRs" form: the checked CDRs, or every CDR the re-posted filters match."""

from django import forms
from django.http import QueryDict

from ..models import CDR
from ..selectors.cdrs import filter_cdrs

MAX_CHECKED = 1000


class IntegerListField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            return []
        try:
            numbers = sorted({int(item) for item in value})
        except (TypeError, ValueError) as exc:
            raise forms.ValidationError("Invalid selection; reload the page.") from exc
        if len(numbers) > MAX_CHECKED:
            raise forms.ValidationError(
                f"Check at most {MAX_CHECKED:,} CDRs, or select all matching CDRs instead."
            )
        return numbers


class CDRRerateForm(forms.Form):
    pk = IntegerListField(required=False)
    select_all = forms.BooleanField(required=False, widget=forms.HiddenInput)
    filters = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if cleaned.get("select_all"):
            if not filter_cdrs(self.filter_data).is_valid():
                raise forms.ValidationError("The filters are invalid; correct them and try again.")
        elif not cleaned.get("pk"):
            raise forms.ValidationError(
                "Check the CDRs to re-rate, or select all CDRs matching the filters."
            )
        return cleaned

    @property
    def filter_data(self) -> QueryDict:
        return QueryDict(self.cleaned_data.get("filters") or "")

    @property
    def filter_query(self) -> str:
        """The re-posted filters as a query string, to go back to the same overview."""
        if not self.is_valid():
            return QueryDict(self.data.get("filters") or "").urlencode()
        return self.filter_data.urlencode()

    def selected_cdrs(self):
        """The CDRs to re-rate, resolved now: the filters' match, or the checked ones."""
        if self.cleaned_data["select_all"]:
            return filter_cdrs(self.filter_data).qs.order_by()
        return CDR.objects.filter(pk__in=self.cleaned_data["pk"])
