"""Statements and Sub-CPOs for document tests, with money written by hand."""

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from evse_payout.models import (
    CDR,
    CDRStatus,
    Invoice,
    InvoiceKind,
    InvoiceRun,
    InvoiceStatus,
    StatementLine,
    VatStatus,
)
from tests.factories import (
    CDRFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
    SubCPOFactory,
)

ISSUED_ON = date(2026, 11, 30)
_STATEMENT_NUMBERS = itertools.count(42)

# (alpha-3 country, VAT status, a valid VAT number of that country or "")
PAYEES = {
    "be_registered": ("BEL", VatStatus.REGISTERED, "BE0207451227"),
    "nl_registered": ("NLD", VatStatus.REGISTERED, "NL812345605B01"),
    "de_registered": ("DEU", VatStatus.REGISTERED, "DE287654324"),
    "be_not_registered": ("BEL", VatStatus.NOT_REGISTERED, ""),
    "be_exempt": ("BEL", VatStatus.EXEMPT, "BE0456123001"),
}


def payee(case: str, **overrides):
    country, status, vat_number = PAYEES[case]
    fields = {
        "name": f"Payee {case}",
        "country": country,
        "vat_status": status,
        "vat_number": vat_number,
        "street": "Havenlaan",
        "building_number": "86C",
        "postal_code": "1000",
        "city": "Brussel",
        "agreement_reference": "SBA-2025-017",
        "agreement_signed_on": date(2025, 1, 15),
    }
    return SubCPOFactory(**{**fields, **overrides})


def statement(
    sub_cpo=None,
    *,
    excl: str = "1234.56",
    fees: str = "123.46",
    status: str = InvoiceStatus.FINAL,
    number: str | None = "",
    currency: str = "EUR",
) -> Invoice:
    """A payout statement with the given totals (no lines): collected excl. VAT and fees."""
    account = PayoutAccountFactory(holder=sub_cpo, currency=currency)
    run = InvoiceRun.objects.create(cutoff=date(2026, 11, 1), created_at=timezone.now())
    excl_vat, fee = Decimal(excl), Decimal(fees)
    if number == "":
        number = f"PS-2026-{next(_STATEMENT_NUMBERS):06d}"
    own = sub_cpo is None
    return Invoice.objects.create(
        run=run,
        payout_account=account,
        kind=InvoiceKind.REVENUE_REPORT if own else InvoiceKind.STATEMENT,
        currency=currency,
        status=status,
        number=None if own else number,
        # The frozen copy finalize writes (the documents' amount paid is set by finalize too).
        payee_name=account.holder.name if not own else "",
        payee_account_holder_name=account.account_holder_name,
        payee_iban=account.iban,
        payee_bic=account.bic,
        payable=excl_vat - fee,
        period_start=datetime(2026, 10, 1, 6, 30, tzinfo=UTC),
        period_end=datetime(2026, 10, 31, 21, 0, tzinfo=UTC),
        total_excl_vat=excl_vat,
        total_fees=fee,
        net_payout=excl_vat - fee,
        created_at=timezone.now(),
    )


def add_lines(invoice: Invoice, count: int, *, excl, fee) -> list:
    """`count` invoiced CDRs on the statement; `excl(i)` and `fee(i)` give line i's amounts."""
    evse = EVSEFactory(location=LocationFactory(owner=invoice.payout_account.holder))
    start = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
    cdrs = [
        CDRFactory.build(
            evse=evse,
            cdr_id=f"STMT{invoice.pk}-{i:05d}",
            start_date_time=start + timedelta(minutes=30 * i),
            end_date_time=start + timedelta(minutes=30 * i + 20),
            total_cost_excl_vat=excl(i),
            total_cost_incl_vat=excl(i),
            fee=fee(i),
            payout=excl(i) - fee(i),
            status=CDRStatus.RATED,
            payout_account=invoice.payout_account,
        )
        for i in range(1, count + 1)
    ]
    invoice.cdr_count += count
    invoice.save(update_fields=["cdr_count"])
    created = CDR.objects.bulk_create(cdrs)
    StatementLine.objects.bulk_create(StatementLine(cdr=cdr, invoice=invoice) for cdr in created)
    return created
