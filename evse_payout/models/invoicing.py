"""Invoice runs and their payout statements (self-billing credit notes)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from .accounts import PayoutAccount


class InvoiceRun(models.Model):
    cutoff = models.DateField(
        help_text="CDRs that ended before 00:00 of this day in the business time zone "
        "(settings.BUSINESS_TIME_ZONE) are included."
    )
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="The business time zone the cutoff was read in."
    )
    payout_account = models.ForeignKey(
        PayoutAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Set when the run settled this account alone (e.g. before deactivating it).",
    )
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=150, blank=True)
    is_dry_run = models.BooleanField(default=False)
    cdr_count = models.PositiveIntegerField(default=0)
    invoice_count = models.PositiveIntegerField(default=0)
    total_excl_vat = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    total_fees = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    total_payout = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    exclusions = models.JSONField(
        default=dict, blank=True, help_text="Per reason: count and amount of the CDRs left out."
    )

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"Invoice run {self.pk} (cutoff {self.cutoff})"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    FINAL = "final", "Final"
    DISCARDED = "discarded", "Discarded"


class InvoiceKind(models.TextChoices):
    STATEMENT = "statement", "Payout statement"
    # The CPO's own account is not paid out: its run document is an internal report, not numbered.
    REVENUE_REPORT = "revenue_report", "Internal revenue report"


class Invoice(models.Model):
    """One payout statement for one account in one run; its lines are its CDRs.

    Money figures are the exact sums of the lines, each rounded once to the currency's minor unit
    (stored with 4 decimals so no currency is cut). From finalize on, the payee and fee terms
    fields hold the frozen copy that final documents read.
    """

    run = models.ForeignKey(InvoiceRun, on_delete=models.PROTECT, related_name="invoices")
    payout_account = models.ForeignKey(
        PayoutAccount, on_delete=models.PROTECT, related_name="invoices"
    )
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    number = models.CharField(max_length=20, null=True, blank=True, unique=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    cdr_count = models.PositiveIntegerField(default=0)
    kind = models.CharField(
        max_length=16, choices=InvoiceKind.choices, default=InvoiceKind.STATEMENT
    )
    total_excl_vat = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    total_vat = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    total_incl_vat = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    total_fees = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    total_credits = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    net_payout = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    balance_brought_forward = models.DecimalField(
        max_digits=20,
        decimal_places=4,
        default=0,
        help_text="The payable amount of the account's carried-forward statement it includes.",
    )
    brought_forward_from = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="brought_forward_into",
    )
    payable = models.DecimalField(
        max_digits=20,
        decimal_places=4,
        default=0,
        help_text="Net payout plus the balance brought forward: what is transferred.",
    )
    carried_forward = models.BooleanField(
        default=False,
        help_text="Finalized with a payable amount ≤ 0 or below the account's minimum payout: "
        "it is not paid but brought forward to the account's next statement.",
    )
    # The frozen copy (R6): filled at finalize, read by final statements, their CSV and SEPA.
    payee_name = models.CharField(max_length=200, blank=True)
    payee_account_holder_name = models.CharField(max_length=70, blank=True)
    payee_iban = models.CharField("payee IBAN", max_length=34, blank=True)
    payee_bic = models.CharField("payee BIC", max_length=11, blank=True)
    payee_vat_number = models.CharField("payee VAT number", max_length=32, blank=True)
    payee_country = models.CharField(max_length=3, blank=True)
    terms_commission_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )
    terms_fee_per_kwh = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    terms_fee_per_session = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True
    )
    created_at = models.DateTimeField()
    finalized_at = models.DateTimeField(null=True, blank=True)
    finalized_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    discarded_at = models.DateTimeField(null=True, blank=True)
    discarded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "payout statement"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="final")
                | Q(number__isnull=False)
                | Q(kind=InvoiceKind.REVENUE_REPORT),
                name="invoice_final_has_number",
            ),
            models.CheckConstraint(
                condition=~Q(kind=InvoiceKind.REVENUE_REPORT) | Q(number__isnull=True),
                name="invoice_revenue_report_has_no_number",
            ),
            models.CheckConstraint(
                condition=~Q(status="final") | ~Q(payee_iban="") | Q(kind="revenue_report"),
                name="invoice_final_has_frozen_payee",
            ),
            models.UniqueConstraint(
                fields=["run", "payout_account"],
                condition=~Q(status="discarded"),
                name="invoice_one_per_account_per_run",
            ),
        ]

    def __str__(self):
        if self.kind == InvoiceKind.REVENUE_REPORT:
            return f"Revenue report {self.pk}"
        return self.number or f"Draft statement {self.pk}"

    @property
    def is_revenue_report(self) -> bool:
        return self.kind == InvoiceKind.REVENUE_REPORT

    @property
    def cdrs(self):
        """The CDRs on this statement (its lines), as a CDR queryset."""
        from .cdrs import CDR

        return CDR.objects.filter(statement_line__invoice=self)


class StatementLine(models.Model):
    """A CDR on a payout statement. Statement membership lives here, not on the CDR row: an
    invoice run inserts one narrow row per CDR it takes (one `INSERT … SELECT`) instead of
    rewriting every CDR row and its indexes. The CDR is the primary key, so the database keeps a
    CDR on one statement at most; discarding a draft deletes its lines, and cancelling a final
    statement moves them to `CancelledStatementLine` (its CDRs are rated again).

    `CDR.status` reads `invoiced` while a CDR has a line, and `CDR.statement` is its statement.
    """

    # No foreign-key constraints in the database (db_constraint=False): PostgreSQL checks each one
    # by locking the referenced row, and locking every CDR a run takes writes every one of their
    # pages — measured at 49 s for the 589,106 lines of a full-scale run, slower than the CDR
    # rewrite this table replaces. On PostgreSQL a statement-level trigger checks each INSERT's
    # lines as one set instead (migration 0011); deleting a CDR or statement with lines is refused
    # by PROTECT, and nothing deletes CDRs.
    cdr = models.OneToOneField(
        "CDR",
        primary_key=True,
        on_delete=models.PROTECT,
        related_name="statement_line",
        db_constraint=False,
    )
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        related_name="lines",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        verbose_name = "statement line"
        indexes = [models.Index(fields=["invoice", "cdr"], name="statement_line_invoice_idx")]

    def __str__(self):
        return f"{self.invoice}: CDR {self.cdr_id}"


class InvoiceRunExclusion(models.Model):
    """What a run left out, compactly: one row per reason, account and currency with the count and
    the amount (excl. VAT), not one row per CDR. The CDRs themselves are found by the same rule
    (`services.invoicing.left_out_cdrs`): the run page links to them."""

    run = models.ForeignKey(InvoiceRun, on_delete=models.CASCADE, related_name="excluded")
    reason = models.CharField(max_length=24)
    # The account the CDRs were rated for, when they still name one (not for unknown EVSEs).
    payout_account = models.ForeignKey(
        PayoutAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    currency = models.CharField(max_length=3)
    cdr_count = models.PositiveIntegerField()
    amount_excl_vat = models.DecimalField(max_digits=20, decimal_places=4)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "reason", "payout_account", "currency"],
                condition=Q(payout_account__isnull=False),
                name="exclusion_one_row_per_account",
            ),
            models.UniqueConstraint(
                fields=["run", "reason", "currency"],
                condition=Q(payout_account__isnull=True),
                name="exclusion_one_row_without_account",
            ),
            models.CheckConstraint(condition=Q(cdr_count__gt=0), name="exclusion_counts_cdrs"),
        ]

    def __str__(self):
        return f"{self.run}: {self.cdr_count} CDRs ({self.reason}, {self.currency})"


class InvoiceNumberSequence(models.Model):
    """The last statement number given per year: finalize locks this row so numbers are gapless."""

    year = models.PositiveIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last_number}"
