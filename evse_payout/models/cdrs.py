"""Charge detail records as received over OCPI, their rating state and rating history."""

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When

from ..money import FeeTerms
from .accounts import PayoutAccount
from .assignments import Assignment
from .invoicing import StatementLine
from .network import EVSE, Location


class CDRStatus(models.TextChoices):
    NEW = "new", "New"
    RATED = "rated", "Rated"
    NOT_INVOICEABLE = "not_invoiceable", "Not invoiceable"
    INVOICED = "invoiced", "Invoiced"


# What a CDR's row stores (`rating_status`); `invoiced` is not stored but derived from its
# statement line (`StatementLine`), so an invoice run never rewrites the CDR rows it takes.
RATING_STATUSES = (CDRStatus.NEW, CDRStatus.RATED, CDRStatus.NOT_INVOICEABLE)


def on_statement() -> Exists:
    """True for a CDR (the outer query's row) that is on a statement."""
    return Exists(StatementLine.objects.filter(cdr=OuterRef("pk")))


def status_q(*statuses: str) -> Q:
    """CDRs in any of `statuses` (DESIGN §7 values), as conditions the indexes serve: `rated` is
    a rated row with no statement line, `invoiced` a CDR with one."""
    condition = Q(pk__in=[])
    for status in statuses:
        if status == CDRStatus.INVOICED:
            condition |= Q(statement_line__isnull=False)
        elif status == CDRStatus.RATED:
            condition |= Q(rating_status=CDRStatus.RATED, statement_line__isnull=True)
        else:
            condition |= Q(rating_status=status)
    return condition


def derived_status() -> Case:
    return Case(
        When(on_statement(), then=Value(CDRStatus.INVOICED.value)),
        default=F("rating_status"),
        output_field=models.CharField(),
    )


class CDRQuerySet(models.QuerySet):
    def with_status(self, *statuses: str) -> "CDRQuerySet":
        """Filter by status the fast way (`filter(status=…)` works too, but reads every row's
        derived status)."""
        return self.filter(status_q(*statuses))

    def not_on_statement(self) -> "CDRQuerySet":
        return self.filter(statement_line__isnull=True)


class CDRManager(models.Manager.from_queryset(CDRQuerySet)):
    """Every CDR query carries `status` (DESIGN §7: `new`, `rated`, `not_invoiceable` or
    `invoiced`), so `filter(status=…)`, `values("status")` and `cdr.status` keep working."""

    def get_queryset(self):
        return super().get_queryset().annotate(status=derived_status())


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
    # Foreign keys without their own index (db_index=False): a re-rate rewrites CDR rows, and each
    # index is one more entry per row. `evse` and `payout_account` are served by the composite
    # indexes that lead with them; `location` and `assignment` are never looked up from the CDR
    # side (deleting a Location or Assignment, which nothing does, would scan); `credited_cdr`
    # has a partial index below.
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

    # new / rated / not_invoiceable; `status` adds `invoiced` (a CDR with a statement line).
    rating_status = models.CharField(
        max_length=16, choices=CDRStatus.choices, default=CDRStatus.NEW
    )
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

    objects = CDRManager()

    class Meta:
        verbose_name = "CDR"
        verbose_name_plural = "CDRs"
        ordering = ["-end_date_time", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["country_code", "party_id", "cdr_id"], name="cdr_unique_ocpi_id"
            ),
            models.CheckConstraint(
                condition=Q(rating_status__in=[status.value for status in RATING_STATUSES]),
                name="cdr_rating_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(rating_status="rated")
                | (
                    Q(payout_account__isnull=False)
                    & Q(fee__isnull=False)
                    & Q(payout__isnull=False)
                    & Q(terms_commission_percent__isnull=False)
                ),
                name="cdr_rated_has_account_and_amounts",
            ),
            models.CheckConstraint(
                condition=~Q(rating_status="not_invoiceable") | ~Q(reason=""),
                name="cdr_not_invoiceable_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["-end_date_time", "-id"], name="cdr_newest_idx"),
            models.Index(
                fields=["rating_status", "reason", "-end_date_time"], name="cdr_status_reason_idx"
            ),
            models.Index(fields=["evse", "rating_status", "reason"], name="cdr_evse_status_idx"),
            # The CDR overview of one account, newest first (also serves account + status).
            models.Index(
                fields=["payout_account", "-end_date_time", "-id"], name="cdr_account_newest_idx"
            ),
            models.Index(fields=["evse_id_raw"], name="cdr_evse_id_raw_idx"),
            # The CDR overview sorts by amount (excl. VAT), ties newest first.
            models.Index(
                fields=["total_cost_excl_vat", "-end_date_time", "-id"], name="cdr_amount_idx"
            ),
            models.Index(
                fields=["credited_cdr"],
                condition=Q(credited_cdr__isnull=False),
                name="cdr_credited_cdr_idx",
            ),
        ]

    def __str__(self):
        return f"{self.country_code}*{self.party_id} {self.cdr_id}"

    # DESIGN §7: `status` is `invoiced` while the CDR is on a statement, else its rating status.
    # Querysets of `CDR.objects` carry it as an annotation (set through the setter below);
    # otherwise it is looked up. Setting it sets the rating status (`invoiced` cannot be set:
    # only an invoice run puts a CDR on a statement).

    @property
    def status(self) -> str:
        if self.rating_status != CDRStatus.RATED:
            return self.rating_status
        on = self.__dict__.get("_on_statement")
        if on is None:
            on = self.pk is not None and StatementLine.objects.filter(cdr_id=self.pk).exists()
        return CDRStatus.INVOICED if on else CDRStatus.RATED

    @status.setter
    def status(self, value: str) -> None:
        if value == CDRStatus.INVOICED:
            self.__dict__["_on_statement"] = True
        else:
            self.rating_status = value
            self.__dict__["_on_statement"] = False

    def get_status_display(self) -> str:
        return CDRStatus(self.status).label

    @property
    def statement(self):
        """The payout statement (Invoice) this CDR is on, or None."""
        try:
            return self.statement_line.invoice
        except ObjectDoesNotExist:
            return None

    def refresh_from_db(self, *args, **kwargs):
        self.__dict__.pop("_on_statement", None)
        super().refresh_from_db(*args, **kwargs)


class CDRRating(FeeTermsFields):
    """One rating of a CDR (at intake or a re-rate): the history of why it is or is not invoiceable."""

    # No index of its own: `cdr_rating_history_idx` (cdr, -at) leads with it and serves every
    # lookup by CDR (the history, the cascade); a second one would cost each inserted row.
    cdr = models.ForeignKey(CDR, on_delete=models.CASCADE, related_name="ratings", db_index=False)
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

    def party_keys(self) -> frozenset[tuple[str, str]]:
        """The (country_code, party_id) pairs this token may speak for (prefetch `parties`)."""
        return frozenset((party.country_code, party.party_id) for party in self.parties.all())


class OCPIPartyRole(models.TextChoices):
    CPO = "CPO", "CPO"


class OCPITokenParty(models.Model):
    """A party (OCPI country_code + party_id, with its role) a token may speak for.

    OCPI 2.2.1 credentials carry the peer's roles; a request for any other party is refused.
    """

    token = models.ForeignKey(OCPIToken, on_delete=models.CASCADE, related_name="parties")
    country_code = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2, e.g. BE.")
    party_id = models.CharField(max_length=3, help_text="e.g. BEC.")
    role = models.CharField(max_length=4, choices=OCPIPartyRole.choices, default=OCPIPartyRole.CPO)

    class Meta:
        verbose_name = "OCPI party"
        verbose_name_plural = "OCPI parties"
        ordering = ["token", "country_code", "party_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["token", "country_code", "party_id"], name="ocpi_token_party_unique"
            ),
            models.CheckConstraint(
                condition=Q(role__in=OCPIPartyRole.values), name="ocpi_token_party_role_valid"
            ),
        ]

    def __str__(self):
        return f"{self.country_code}/{self.party_id} ({self.role})"
