"""Assignments of EVSEs to payout accounts over time, and the audit trail of every change."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from .accounts import PayoutAccount
from .network import EVSE


class UnassignReason(models.TextChoices):
    MANUAL = "manual", "Unassigned by staff"
    ACCOUNT_DEACTIVATED = "account_deactivated", "Payout account deactivated"
    EVSE_REMOVED = "evse_removed", "EVSE removed"


class AssignmentQuerySet(models.QuerySet):
    def open(self):
        return self.filter(unassigned_at__isnull=True)


class Assignment(models.Model):
    """EVSE → payout account from `assigned_at` until `unassigned_at` (open while NULL). Never deleted."""

    evse = models.ForeignKey(EVSE, on_delete=models.PROTECT, related_name="assignments")
    payout_account = models.ForeignKey(
        PayoutAccount, on_delete=models.PROTECT, related_name="assignments"
    )
    assigned_at = models.DateTimeField()
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    unassigned_at = models.DateTimeField(null=True, blank=True)
    unassigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    unassign_reason = models.CharField(max_length=24, choices=UnassignReason.choices, blank=True)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["-assigned_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["evse"],
                condition=Q(unassigned_at__isnull=True),
                name="one_open_assignment_per_evse",
            ),
            models.CheckConstraint(
                condition=Q(unassigned_at__isnull=True) | Q(unassigned_at__gte=F("assigned_at")),
                name="assignment_unassigned_after_assigned",
            ),
            models.CheckConstraint(
                condition=(Q(unassigned_at__isnull=True) & Q(unassign_reason=""))
                | (Q(unassigned_at__isnull=False) & ~Q(unassign_reason="")),
                name="assignment_reason_iff_closed",
            ),
        ]
        indexes = [
            models.Index(
                fields=["payout_account", "evse"],
                condition=Q(unassigned_at__isnull=True),
                name="assignment_open_account_idx",
            ),
            models.Index(fields=["evse", "-assigned_at"], name="assignment_evse_history_idx"),
        ]

    def __str__(self):
        return f"{self.evse} → {self.payout_account}"

    @property
    def is_open(self):
        return self.unassigned_at is None


class UnassignedEVSE(models.Model):
    """An EVSE that is not REMOVED and has no open assignment: the rows of "Unassigned EVSEs".

    Kept by database triggers on the EVSE and Assignment tables (migration 0012), never written
    by the application: whatever path changes an assignment or an EVSE, the row is there exactly
    when the EVSE is unassigned. It carries the EVSE's location and EVSE ID so the table's filters
    and its default sort read this narrow table instead of probing every EVSE for an open
    assignment (12,193 probes for one city at full scale).
    """

    evse = models.OneToOneField(
        EVSE,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # the triggers keep it; a row-by-row check would only add locks
        related_name="unassigned_entry",
    )
    location = models.ForeignKey(
        "evse_payout.Location",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # unassigned_evse_location_idx leads with it
        related_name="+",
    )
    evse_code = models.CharField(
        "EVSE ID", max_length=48, help_text="A copy of the EVSE's EVSE ID, for sorting."
    )

    class Meta:
        verbose_name = "unassigned EVSE"
        verbose_name_plural = "unassigned EVSEs"
        indexes = [
            models.Index(fields=["location", "evse_code"], name="unassigned_evse_location_idx"),
            models.Index(fields=["evse_code", "evse"], name="unassigned_evse_code_idx"),
        ]

    def __str__(self):
        return self.evse_code


class OpenAssignmentCount(models.Model):
    """How many open assignments a payout account has: the counts on the account tabs.

    Kept by database triggers on the Assignment table (migration 0013), never written by the
    application; an account without a row has none. Counting them on each page read 60,000
    index entries at full scale.
    """

    payout_account = models.OneToOneField(
        PayoutAccount,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # the triggers keep it
        related_name="open_assignment_count",
    )
    # No CHECK (count >= 0): the triggers' upserts propose a row with the change itself (-1 when
    # an assignment closes), and both databases check a proposed row before the conflict turns
    # the insert into an update. tests/models/test_unassigned_evse.py compares it with a count.
    count = models.BigIntegerField()

    def __str__(self):
        return f"{self.payout_account_id}: {self.count}"


class AuditAction(models.TextChoices):
    ASSIGN = "assign", "Assigned EVSEs"
    UNASSIGN = "unassign", "Unassigned EVSEs"
    ACCOUNT_CREATE = "account_create", "Created payout account"
    ACCOUNT_UPDATE = "account_update", "Changed payout account"
    ACCOUNT_DEACTIVATE = "account_deactivate", "Deactivated payout account"
    ACCOUNT_REACTIVATE = "account_reactivate", "Reactivated payout account"
    EVSE_REMOVED = "evse_removed", "EVSE removed"
    RERATE = "rerate", "Re-rated CDRs"
    INVOICE_RUN = "invoice_run", "Ran invoicing"
    INVOICE_FINALIZE = "invoice_finalize", "Finalized statement"
    INVOICE_DISCARD = "invoice_discard", "Discarded statement"
    INVOICE_CANCEL = "invoice_cancel", "Cancelled statement with credit notes"
    OCPI_TOKEN_CREATE = "ocpi_token_create", "Created OCPI token"
    OCPI_TOKEN_PARTIES = "ocpi_token_parties", "Changed OCPI token parties"
    LOCATION_OWNER = "location_owner", "Changed location owner"


class AuditEvent(models.Model):
    """Who did what and when (R7). Written in the same transaction as the change it records."""

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        max_length=150, blank=True, help_text="The user name, or the command or peer that acted."
    )
    action = models.CharField(max_length=24, choices=AuditAction.choices)
    payout_account = models.ForeignKey(
        PayoutAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    object_count = models.PositiveIntegerField(default=0)
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["action", "-at"], name="audit_action_at_idx")]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label}: {self.summary}"
