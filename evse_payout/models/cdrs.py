"""Charge detail records as received over OCPI, their rating state and rating history."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from ..money import FeeTerms
from .accounts import PayoutAccount
from .assignments import Assignment
from .network import EVSE, Location


class CDRStatus(models.TextChoices):
    NEW = "new", "New"
    RATED = "rated", "Rated"
    NOT_INVOICEABLE = "not_invoiceable", "Not invoiceable"
    INVOICED = "invoiced", "Invoiced"


class CDRReason(models.TextChoices):
    NONE = "", "—"
    EVSE_UNKNOWN = "evse_unknown", "EVSE unknown"
    EVSE_UNASSIGNED = "evse_unassigned", "EVSE unassigned"
    CURRENCY_MISMATCH = "currency_mismatch", "Currency mismatch"
    FAILED_VALIDATION = "failed_validation", "Failed validation"
    ASSIGNMENT_CHANGED = "assignment_changed", "Assignment changed"
    CREDIT_ORIGINAL_UNKNOWN = "credit_original_unknown", "Credited CDR unknown"
    CREDIT_EXCEEDS_ORIGINAL = "credit_exceeds_original", "Credit exceeds original"
    ORIGINAL_NOT_INVOICED = "original_not_invoiced", "Original not invoiced"


class FeeTermsFields(models.Model):
    """The fee terms a rating applied (R5), stored with it so its fee can be shown and re-checked."""

    terms_commission_percent = models.DecimalField(
        "commission applied (%)", max_digits=5, decimal_places=2, null=True, blank=True
    )
    terms_fee_per_kwh = models.DecimalField(
        "fee per kWh applied", max_digits=8, decimal_places=4, null=True, blank=True
    )
    terms_fee_per_session = models.DecimalField(
        "fee per session applied", max_digits=8, decimal_places=2, null=True, blank=True
    )
    terms_currency = models.CharField(
        "fee terms currency", max_length=3, blank=True, default="", db_default=""
    )

    class Meta:
        abstract = True

    @property
    def fee_terms(self) -> FeeTerms | None:
        if self.terms_commission_percent is None:
            return None
        return FeeTerms(
            commission_percent=self.terms_commission_percent,
            fee_per_kwh=self.terms_fee_per_kwh,
            fee_per_session=self.terms_fee_per_session,
            currency=self.terms_currency,
        )


class CDR(FeeTermsFields):
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    cdr_id = models.CharField("CDR id", max_length=39)
    start_date_time = models.DateTimeField()
    end_date_time = models.DateTimeField()
    # Foreign keys without their own index (db_index=False): an invoice run rewrites every CDR it
    # puts on a statement, and each index is one more entry per row. `evse` and `payout_account`
    # are served by the composite indexes that lead with them; `location` and `assignment` are
    # never looked up from the CDR side (deleting a Location or Assignment, which nothing does,
    # would scan); `credited_cdr` and `invoice` have partial indexes below.
    location = models.ForeignKey(
        Location,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cdrs",
        db_index=False,
    )
    evse = models.ForeignKey(
        EVSE, null=True, blank=True, on_delete=models.PROTECT, related_name="cdrs", db_index=False
    )
    location_ocpi_id = models.CharField(max_length=36)
    evse_uid = models.CharField("EVSE uid", max_length=36)
    evse_id_raw = models.CharField("EVSE ID (as sent)", max_length=48)
    currency = models.CharField(max_length=3)
    total_energy = models.DecimalField("energy (kWh)", max_digits=14, decimal_places=4)
    total_time = models.DecimalField("time (h)", max_digits=12, decimal_places=4)
    total_cost_excl_vat = models.DecimalField(max_digits=16, decimal_places=4)
    total_cost_incl_vat = models.DecimalField(
        max_digits=16, decimal_places=4, null=True, blank=True
    )
    credit = models.BooleanField(default=False)
    credit_reference_id = models.CharField(max_length=39, blank=True)
    credited_cdr = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credits",
        db_index=False,
    )
    last_updated = models.DateTimeField()
    raw = models.JSONField("OCPI JSON")
    content_hash = models.CharField(max_length=64)
    received_at = models.DateTimeField()

    status = models.CharField(max_length=16, choices=CDRStatus.choices, default=CDRStatus.NEW)
    reason = models.CharField(max_length=24, choices=CDRReason.choices, blank=True, default="")
    reason_detail = models.CharField(max_length=255, blank=True)
    payout_account = models.ForeignKey(
        PayoutAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cdrs",
        db_index=False,
    )
    assignment = models.ForeignKey(
        Assignment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cdrs",
        db_index=False,
    )
    fee = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)
    payout = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)
    rated_at = models.DateTimeField(null=True, blank=True)
    invoice = models.ForeignKey(
        "Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cdrs",
        db_index=False,
    )

    class Meta:
        verbose_name = "CDR"
        verbose_name_plural = "CDRs"
        ordering = ["-end_date_time", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["country_code", "party_id", "cdr_id"], name="cdr_unique_ocpi_id"
            ),
            models.CheckConstraint(
                condition=Q(status__in=CDRStatus.values), name="cdr_status_valid"
            ),
            models.CheckConstraint(
                condition=(Q(status="invoiced") & Q(invoice__isnull=False))
                | (~Q(status="invoiced") & Q(invoice__isnull=True)),
                name="cdr_invoiced_iff_on_statement",
            ),
            models.CheckConstraint(
                condition=~Q(status="rated")
                | (
                    Q(payout_account__isnull=False)
                    & Q(fee__isnull=False)
                    & Q(payout__isnull=False)
                    & Q(terms_commission_percent__isnull=False)
                ),
                name="cdr_rated_has_account_and_amounts",
            ),
            models.CheckConstraint(
                condition=~Q(status="not_invoiceable") | ~Q(reason=""),
                name="cdr_not_invoiceable_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["-end_date_time", "-id"], name="cdr_newest_idx"),
            models.Index(
                fields=["status", "reason", "-end_date_time"], name="cdr_status_reason_idx"
            ),
            models.Index(fields=["evse", "status", "reason"], name="cdr_evse_status_idx"),
            # The CDR overview of one account, newest first (also serves account + status).
            models.Index(
                fields=["payout_account", "-end_date_time", "-id"], name="cdr_account_newest_idx"
            ),
            models.Index(fields=["evse_id_raw"], name="cdr_evse_id_raw_idx"),
            # Statement lines in their order (lines page, CSV, discard, payout files).
            models.Index(
                fields=["invoice", "end_date_time", "id"],
                condition=Q(invoice__isnull=False),
                name="cdr_invoice_idx",
            ),
            models.Index(
                fields=["credited_cdr"],
                condition=Q(credited_cdr__isnull=False),
                name="cdr_credited_cdr_idx",
            ),
        ]

    def __str__(self):
        return f"{self.country_code}*{self.party_id} {self.cdr_id}"


class CDRRating(FeeTermsFields):
    """One rating of a CDR (at intake or a re-rate): the history of why it is or is not invoiceable."""

    cdr = models.ForeignKey(CDR, on_delete=models.CASCADE, related_name="ratings")
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=16, choices=CDRStatus.choices)
    reason = models.CharField(max_length=24, choices=CDRReason.choices, blank=True)
    reason_detail = models.CharField(max_length=255, blank=True)
    payout_account = models.ForeignKey(
        PayoutAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fee = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)
    payout = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["cdr", "-at"], name="cdr_rating_history_idx")]

    def __str__(self):
        return f"{self.cdr} {self.status} {self.reason}".strip()


class OCPIToken(models.Model):
    """A roaming peer's credentials; only the SHA-256 of the token is stored."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField("active", default=True)

    class Meta:
        verbose_name = "OCPI token"
        ordering = ["name"]

    def __str__(self):
        return self.name
