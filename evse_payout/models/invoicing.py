"""Invoice runs and their payout statements (self-billing credit notes)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from .accounts import PayoutAccount


class InvoiceRun(models.Model):
    cutoff = models.DateField(
        help_text="CDRs that ended before 00:00 UTC of this day are included."
    )
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=150, blank=True)
    is_dry_run = models.BooleanField(default=False)
    cdr_count = models.PositiveIntegerField(default=0)
    invoice_count = models.PositiveIntegerField(default=0)
    total_excl_vat = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    total_fees = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    total_payout = models.DecimalField(max_digits=18, decimal_places=2, default=0)
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


class Invoice(models.Model):
    """One payout statement for one account in one run; its lines are its CDRs."""

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
    total_excl_vat = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    total_vat = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    total_incl_vat = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    total_fees = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    total_credits = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    net_payout = models.DecimalField(max_digits=18, decimal_places=2, default=0)
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
                condition=~Q(status="final") | Q(number__isnull=False),
                name="invoice_final_has_number",
            ),
            models.UniqueConstraint(
                fields=["run", "payout_account"],
                condition=~Q(status="discarded"),
                name="invoice_one_per_account_per_run",
            ),
        ]

    def __str__(self):
        return self.number or f"Draft statement {self.pk}"


class InvoiceRunExclusion(models.Model):
    """A CDR a run left out, and why: the run page links to exactly these CDRs."""

    run = models.ForeignKey(InvoiceRun, on_delete=models.CASCADE, related_name="excluded")
    cdr = models.ForeignKey("CDR", on_delete=models.CASCADE, related_name="run_exclusions")
    reason = models.CharField(max_length=24)
    amount_excl_vat = models.DecimalField(max_digits=16, decimal_places=4)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "cdr"], name="exclusion_unique_per_run")
        ]
        indexes = [models.Index(fields=["run", "reason"], name="exclusion_run_reason_idx")]

    def __str__(self):
        return f"{self.run}: {self.cdr} ({self.reason})"


class InvoiceNumberSequence(models.Model):
    """The last statement number given per year: finalize locks this row so numbers are gapless."""

    year = models.PositiveIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last_number}"
