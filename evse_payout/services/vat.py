"""VAT of the two documents of a Sub-CPO statement, by the payee's VAT status and country.

The self-billed invoice is the Sub-CPO's supply of charging services to the CPO (B2B services,
place of supply = the customer's country, Article 44 of Directive 2006/112/EC):

- payee VAT-registered in the CPO's country → that country's standard rate;
- payee VAT-registered in another EU country → reverse charge: no VAT, the CPO accounts for it;
- payee not registered for VAT → not subject to VAT, no VAT;
- payee exempt from VAT → exempt, no VAT.

The fee invoice is the CPO's service to the Sub-CPO: reverse charge when the Sub-CPO is a
registered business in another EU country, otherwise the CPO's own standard rate.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import Q

from ..models import VatCategory, VatRate, VatStatus
from ..validators import country_name_alpha2

EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
DIRECTIVE = "Directive 2006/112/EC"
REVERSE_CHARGE_MENTION = (
    f"Reverse charge: VAT to be accounted for by the customer (Article 196, {DIRECTIVE})."
)
NOT_SUBJECT_MENTION = "Not subject to VAT: the supplier is not registered for VAT."
EXEMPT_MENTION = "Exempt from VAT: the supplier is exempt from VAT."
# VATEX codes (CEF VAT exemption reason code list) that EN 16931 asks for with AE, E and O.
VATEX = {
    VatCategory.REVERSE_CHARGE: "VATEX-EU-AE",
    VatCategory.NOT_SUBJECT: "VATEX-EU-O",
    VatCategory.EXEMPT: "",
    VatCategory.STANDARD: "",
}


class VatError(Exception):
    """No VAT treatment can be given; the message says what to add or fix."""


@dataclass(frozen=True)
class VatTreatment:
    category: str  # VatCategory (UNCL5305)
    rate: Decimal  # percent; 0 unless standard
    label: str  # the treatment in words, for pages and documents
    mention: str  # the legal mention the document must carry; empty for the standard rate

    @property
    def exemption_code(self) -> str:
        return VATEX[VatCategory(self.category)]


def standard_rate(*, country: str, on: date) -> Decimal:
    """The country's standard rate (percent) on that day, from the VAT rates table."""
    rate = (
        VatRate.objects.filter(country=country, valid_from__lte=on)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=on))
        .order_by("-valid_from")
        .values_list("rate", flat=True)
        .first()
    )
    if rate is None:
        raise VatError(
            f"No VAT rate for {country} on {on.isoformat()}: add it in the admin (VAT rates)."
        )
    return rate


def _domestic(country: str, on: date) -> VatTreatment:
    rate = standard_rate(country=country, on=on)
    return VatTreatment(
        category=VatCategory.STANDARD,
        rate=rate,
        label=f"{country_name_alpha2(country)} VAT at {rate.normalize():f} %",
        mention="",
    )


def _reverse_charge() -> VatTreatment:
    return VatTreatment(
        category=VatCategory.REVERSE_CHARGE,
        rate=Decimal("0.00"),
        label="EU reverse charge: no VAT charged, the customer accounts for it",
        mention=REVERSE_CHARGE_MENTION,
    )


def self_billed_vat(*, payee_country: str, payee_vat_status: str, on: date) -> VatTreatment:
    """VAT of the self-billed invoice (seller = the Sub-CPO, buyer = the CPO)."""
    if payee_vat_status == VatStatus.NOT_REGISTERED:
        return VatTreatment(
            category=VatCategory.NOT_SUBJECT,
            rate=Decimal("0.00"),
            label="No VAT: the Sub-CPO is not registered for VAT",
            mention=NOT_SUBJECT_MENTION,
        )
    if payee_vat_status == VatStatus.EXEMPT:
        return VatTreatment(
            category=VatCategory.EXEMPT,
            rate=Decimal("0.00"),
            label="No VAT: the Sub-CPO is exempt from VAT",
            mention=EXEMPT_MENTION,
        )
    if payee_country == settings.CPO_COUNTRY:
        return _domestic(payee_country, on)
    if payee_country in EU_COUNTRIES:
        return _reverse_charge()
    raise VatError(
        f"A VAT-registered payee in {payee_country} (outside the EU) is not supported; "
        "record its VAT status as not registered or exempt if that applies."
    )


def fee_vat(*, payee_country: str, payee_vat_status: str, on: date) -> VatTreatment:
    """VAT of the CPO's fee invoice (seller = the CPO, buyer = the Sub-CPO)."""
    cpo_country = settings.CPO_COUNTRY
    if (
        payee_vat_status == VatStatus.REGISTERED
        and payee_country != cpo_country
        and payee_country in EU_COUNTRIES
    ):
        return _reverse_charge()
    return _domestic(cpo_country, on)
