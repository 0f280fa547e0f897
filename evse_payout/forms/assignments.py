"""Forms of the bulk assign/unassign flows: what was selected, and which account to assign to."""

from django import forms

from .selection import BulkSelectionForm


class EVSESelectionForm(BulkSelectionForm):
    """The EVSE selection carried through every step of assign/unassign."""

    row_field = "evse"
    across_field = "select_across"
    noun = "EVSE"


class PayoutAccountChoiceForm(forms.Form):
    """The account picker: offers only the active accounts compatible with the EVSEs' owner (R2)."""

    account = forms.ModelChoiceField(
        label="Payout account", queryset=None, empty_label=None, widget=forms.RadioSelect
    )

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
