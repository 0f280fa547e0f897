"""The CDRs an invoice run looks at, read once into a temporary table for the run's transaction."""

from django.db import models

from .accounts import PayoutAccount
from .cdrs import CDR


class RunScope(models.Model):
    """One row per CDR an invoice run looks at (ended before its cutoff, on no statement, rated or
    not invoiceable): the run reads the wide CDR table once into this narrow table, then decides,
    takes, holds back and sums from it. `reason` is why the CDR is left out ("" while the run
    takes it). Not a table of the schema: `services.invoicing` creates it as a temporary table
    inside the run's transaction (PostgreSQL drops it at commit or rollback)."""

    cdr = models.OneToOneField(
        CDR, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    payout_account = models.ForeignKey(
        PayoutAccount,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    currency = models.CharField(max_length=3)
    credit = models.BooleanField()
    credited_cdr = models.ForeignKey(
        CDR,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    rating_status = models.CharField(max_length=16)
    reason = models.CharField(max_length=24)
    excl_vat = models.DecimalField(max_digits=16, decimal_places=4)
    incl_vat = models.DecimalField(max_digits=16, decimal_places=4)
    fee = models.DecimalField(max_digits=16, decimal_places=4, null=True)
    payout = models.DecimalField(max_digits=16, decimal_places=4, null=True)
    start_date_time = models.DateTimeField()
    end_date_time = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "evse_payout_invoice_run_scope"

    def __str__(self):
        return f"CDR {self.cdr_id} ({self.reason or 'taken'})"
