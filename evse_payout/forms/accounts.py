"""The payout account form; it only validates, `services.accounts` saves."""

from decimal import Decimal
from functools import cache

import pycountry
from django import forms
from django.db.models import Q

from ..models import CPO_OWN_LABEL, PayoutAccount, SubCPO
from ..validators import normalize_bic, normalize_iban

# The currencies a European CPO pays out in; not the 180 of ISO 4217 (gold, test codes, funds).
PAYOUT_CURRENCIES = (
    "EUR", "CHF", "CZK", "DKK", "GBP", "HUF", "ISK", "NOK", "PLN", "RON", "SEK",
    "AUD", "CAD", "JPY", "NZD", "USD",
)  # fmt: skip


@cache
def _currency_name(code: str) -> str:
    currency = pycountry.currencies.get(alpha_3=code)
    return currency.name if currency else code


def currency_choices(current: str = "") -> list[tuple[str, str]]:
    """The payout currencies, and an existing account's own currency if it is not among them."""
    codes = list(PAYOUT_CURRENCIES)
    if current and current not in codes:
        codes.append(current)
    return [(code, f"{code} — {_currency_name(code)}") for code in codes]


class PayoutAccountForm(forms.ModelForm):
    """Create or edit the data of a payout account; activity has its own actions."""

    required_css_class = "required"

    holder = forms.ModelChoiceField(
        label="Holder",
        queryset=SubCPO.objects.none(),
        required=False,
        empty_label=CPO_OWN_LABEL,
        help_text="The Sub-CPO paid through this account. Only EVSEs of this owner can be "
        "assigned to it. Leave “" + CPO_OWN_LABEL + "” for the CPO's own EVSEs.",
    )
    currency = forms.ChoiceField(
        label="Currency",
        choices=currency_choices,
        initial="EUR",
        help_text="ISO 4217. Only CDRs in this currency can be paid out through the account.",
    )
    confirm_shared_iban = forms.BooleanField(
        label="Use this IBAN anyway",
        required=False,
        help_text="Tick only if the other holder's account really shares this bank account.",
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
        self.fields["currency"].choices = currency_choices(self.instance.currency or "")
        self.shared_iban_accounts: list[PayoutAccount] = []
        self.fields["minimum_payout"].required = False

    def clean_minimum_payout(self):
        return self.cleaned_data.get("minimum_payout") or Decimal("0.00")

    def clean_iban(self):
        return normalize_iban(self.cleaned_data["iban"])

    def clean_bic(self):
        return normalize_bic(self.cleaned_data["bic"])

    def clean(self):
        cleaned = super().clean()
        iban = cleaned.get("iban")
        if iban and not cleaned.get("confirm_shared_iban"):
            self.shared_iban_accounts = self._accounts_of_other_holders_with(iban, cleaned)
            if self.shared_iban_accounts:
                names = ", ".join(
                    f"“{account.name}” ({account.holder_label})"
                    for account in self.shared_iban_accounts
                )
                self.add_error(
                    "iban",
                    f"This IBAN is already used by {names}, of another holder. Check it, or "
                    "tick “Use this IBAN anyway”.",
                )
        return cleaned

    def _accounts_of_other_holders_with(self, iban: str, cleaned) -> list[PayoutAccount]:
        holder = cleaned.get("holder")
        others = PayoutAccount.objects.filter(iban=iban).select_related("holder")
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        others = others.exclude(holder=holder) if holder else others.exclude(holder__isnull=True)
        return list(others.order_by("name", "pk")[:5])
