"""The payout account form; it only validates, `services.accounts` saves."""

from decimal import Decimal
from functools import cache

import pycountry
from django import forms
from django.db.models import Q

from ..models import PayoutAccount, SubCPO
from ..validators import normalize_iban


@cache
def currency_choices() -> list[tuple[str, str]]:
    return sorted(
        (currency.alpha_3, f"{currency.alpha_3} — {currency.name}")
        for currency in pycountry.currencies
    )


class PayoutAccountForm(forms.ModelForm):
    """Create or edit the data of a payout account; activity has its own actions."""

    holder = forms.ModelChoiceField(
        label="Holder",
        queryset=SubCPO.objects.none(),
        required=False,
        empty_label="CPO (own account)",
        help_text="The Sub-CPO paid through this account. Only EVSEs of this owner can be "
        "assigned to it. Leave “CPO (own account)” for the CPO's own EVSEs.",
    )
    currency = forms.ChoiceField(
        label="Currency",
        choices=currency_choices,
        initial="EUR",
        help_text="ISO 4217. Only CDRs in this currency can be paid out through the account.",
    )

    class Meta:
        model = PayoutAccount
        fields = [
            "name",
            "holder",
            "account_holder_name",
            "iban",
            "bic",
            "vat_number",
            "currency",
            "commission_percent",
            "fee_per_kwh",
            "fee_per_session",
            "minimum_payout",
        ]
        labels = {
            "name": "Name",
            "account_holder_name": "Account holder name",
            "commission_percent": "Commission (%)",
            "fee_per_kwh": "Fee per kWh",
            "fee_per_session": "Fee per session",
        }
        help_texts = {
            "name": "How staff recognise the account in lists and pickers; must be unique.",
            "account_holder_name": "The name on the bank account, as the bank knows it "
            "(used in the SEPA payout file).",
            "iban": "Spaces and lower case are fine, e.g. BE68 5390 0754 7034.",
            "bic": "Optional; checked when given, e.g. GKCCBEBB.",
            "vat_number": "The holder's VAT number, printed on the payout statement.",
            "commission_percent": "Percentage of each CDR's total excl. VAT kept by the CPO "
            "(0–100).",
            "fee_per_kwh": "Kept per kWh charged, in the account's currency (0 or more).",
            "fee_per_session": "Kept per charging session, in the account's currency (0 or more).",
            "minimum_payout": "A statement payable below this is not paid but carried forward to "
            "the next statement (0 or empty: pay every positive amount).",
        }
        widgets = {
            "iban": forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
            "commission_percent": forms.NumberInput(attrs={"min": "0", "max": "100"}),
            "fee_per_kwh": forms.NumberInput(attrs={"min": "0"}),
            "fee_per_session": forms.NumberInput(attrs={"min": "0"}),
            "minimum_payout": forms.NumberInput(attrs={"min": "0"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.holder_id
        # Inactive Sub-CPOs get no new accounts, but an existing account keeps showing its holder.
        self.fields["holder"].queryset = SubCPO.objects.filter(
            Q(is_active=True) | Q(pk=current)
        ).order_by("name", "pk")
        self.fields["minimum_payout"].required = False

    def clean_minimum_payout(self):
        return self.cleaned_data.get("minimum_payout") or Decimal("0.00")

    def clean_iban(self):
        return normalize_iban(self.cleaned_data["iban"])

    def clean_bic(self):
        return self.cleaned_data["bic"].strip().upper()
