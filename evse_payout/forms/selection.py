"""The one bulk-selection form of the list pages (EVSE tables, CDR overview) and its resolution.

A table posts either the checked rows (ids, at most MAX_CHECKED) or "all matching" plus the list
page's filters as a query string. The filters are resolved again on the server when the action
runs, so no step carries thousands of ids. Subclasses name the posted fields and the rows.
"""

from django import forms
from django.db.models import QuerySet
from django.http import QueryDict

MAX_CHECKED = 1000


class IdListField(forms.Field):
    """Primary keys posted as repeated fields (`evse=1&evse=2`)."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, noun: str, **kwargs):
        super().__init__(**kwargs)
        self.noun = noun

    def to_python(self, value):
        if not value:
            return []
        if len(value) > MAX_CHECKED:
            raise forms.ValidationError(
                f"Tick at most {MAX_CHECKED:,} {self.noun}s, or select all matching "
                f"{self.noun}s instead."
            )
        try:
            return sorted({int(item) for item in value})
        except (TypeError, ValueError) as exc:
            raise forms.ValidationError("The selection is not valid; reload the list.") from exc


class BulkSelectionForm(forms.Form):
    """Checked rows (`row_field`), or all rows matching `filters` (`across_field`)."""

    row_field = "pk"
    across_field = "select_across"
    noun = "row"

    filters = forms.CharField(required=False, widget=forms.HiddenInput)
    expected_count = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[self.row_field] = IdListField(required=False, noun=self.noun)
        self.fields[self.across_field] = forms.BooleanField(
            required=False, widget=forms.HiddenInput
        )

    def clean(self):
        cleaned = super().clean()
        if (
            not self.errors
            and not cleaned.get(self.across_field)
            and not cleaned.get(self.row_field)
        ):
            raise forms.ValidationError(
                f"Tick the {self.noun}s first (or select all matching {self.noun}s), then "
                "choose the action again."
            )
        return cleaned

    @property
    def ids(self) -> list[int]:
        return self.cleaned_data[self.row_field]

    @property
    def across(self) -> bool:
        return bool(self.cleaned_data[self.across_field])

    @property
    def filter_data(self) -> QueryDict:
        return QueryDict(self.cleaned_data.get("filters") or "")

    @property
    def filter_query(self) -> str:
        """The re-posted filters as a query string, to go back to the same list page."""
        if not self.is_valid():
            return QueryDict(self.data.get("filters") or "").urlencode()
        return self.filter_data.urlencode()


def resolve_selection(selection: BulkSelectionForm, *, checked_among, matching) -> QuerySet | None:
    """The selected rows as a lazy queryset: the filters' match (`matching(filter_data)` returns
    a filterset), or the checked ids among `checked_among`. None when the re-posted filters are
    no longer valid."""
    if selection.across:
        filterset = matching(selection.filter_data)
        return filterset.qs.order_by() if filterset.is_valid() else None
    return checked_among.filter(pk__in=selection.ids)
