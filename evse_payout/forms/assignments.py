"""Forms of the bulk assign/unassign flows: what was selected, and which account to assign to."""

from django import forms
from django.http import QueryDict

MAX_POSTED_IDS = 1000


class IdListField(forms.Field):
    """A list of primary keys posted as repeated fields (`evse=1&evse=2`)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            return []
        if len(value) > MAX_POSTED_IDS:
            raise forms.ValidationError(
                "Too many EVSEs were posted; use “Select all matching EVSEs” instead."
            )
        try:
            return sorted({int(item) for item in value})
        except (TypeError, ValueError) as exc:
            raise forms.ValidationError("The selection is not valid; reload the list.") from exc


class EVSESelectionForm(forms.Form):
    """The selection carried through every step: checked rows, or "all matching" plus the filter.

    `filters` is the list page's query string; with `select_across` it is resolved again on the
    server (inside the service's transaction), so no step ever carries thousands of ids.
    """

    evse = IdListField(required=False)
    select_across = forms.BooleanField(required=False, widget=forms.HiddenInput)
    filters = forms.CharField(required=False, widget=forms.HiddenInput)
    expected_count = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not cleaned.get("select_across") and not cleaned.get("evse"):
            raise forms.ValidationError(
                "Select at least one EVSE (tick its box), then choose the action again."
            )
        return cleaned

    @property
    def filter_data(self) -> QueryDict:
        return QueryDict(self.cleaned_data.get("filters", ""))


class PayoutAccountChoiceForm(forms.Form):
    """The account picker: offers only the active accounts compatible with the EVSEs' owner (R2)."""

    account = forms.ModelChoiceField(
        label="Payout account", queryset=None, empty_label=None, widget=forms.RadioSelect
    )

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
