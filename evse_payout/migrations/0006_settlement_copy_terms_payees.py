"""Copies the fee terms and payee data to the rows that already had ratings or final statements.

A migration of its own (and 0007 one for the constraints that need the copy): on PostgreSQL the
UPDATEs leave deferred foreign-key trigger events that an ALTER TABLE in the same transaction
refuses ("pending trigger events").
"""

from django.db import migrations
from django.db.models import F, OuterRef, Subquery


def copy_existing_terms_and_payees(apps, schema_editor):
    """Rows rated or finalized before this migration get the best copy there is: their account's
    terms and payee data as they are now (set-based, one UPDATE per table)."""
    CDR = apps.get_model("evse_payout", "CDR")
    Invoice = apps.get_model("evse_payout", "Invoice")
    PayoutAccount = apps.get_model("evse_payout", "PayoutAccount")
    account = PayoutAccount.objects.filter(pk=OuterRef("payout_account"))
    CDR.objects.filter(payout_account__isnull=False, fee__isnull=False).update(
        terms_commission_percent=Subquery(account.values("commission_percent")[:1]),
        terms_fee_per_kwh=Subquery(account.values("fee_per_kwh")[:1]),
        terms_fee_per_session=Subquery(account.values("fee_per_session")[:1]),
        terms_currency=Subquery(account.values("currency")[:1]),
    )
    Invoice.objects.update(payable=F("net_payout"))
    Invoice.objects.filter(status="final").update(
        payee_name=Subquery(account.values("name")[:1]),
        payee_account_holder_name=Subquery(account.values("account_holder_name")[:1]),
        payee_iban=Subquery(account.values("iban")[:1]),
        payee_bic=Subquery(account.values("bic")[:1]),
        payee_vat_number=Subquery(account.values("vat_number")[:1]),
        terms_commission_percent=Subquery(account.values("commission_percent")[:1]),
        terms_fee_per_kwh=Subquery(account.values("fee_per_kwh")[:1]),
        terms_fee_per_session=Subquery(account.values("fee_per_session")[:1]),
    )
    Invoice.objects.filter(status="final", net_payout__lte=0).update(carried_forward=True)


class Migration(migrations.Migration):
    dependencies = [
        ("evse_payout", "0005_settlement_money_terms_frozen_copy"),
    ]

    operations = [
        migrations.RunPython(copy_existing_terms_and_payees, migrations.RunPython.noop),
    ]
