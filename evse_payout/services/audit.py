"""The audit trail (R7): one row per state change, written inside the change's transaction."""

from django.utils import timezone

from ..models import AuditEvent

AUDIT_DETAIL_SAMPLE = 100


def actor_label(actor, fallback: str = "system") -> str:
    return actor.get_username() if actor is not None else fallback


def record_audit_event(
    *,
    action: str,
    actor=None,
    actor_name: str = "",
    summary: str,
    payout_account=None,
    object_count: int = 0,
    details: dict | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        at=timezone.now(),
        actor=actor,
        actor_label=actor_name or actor_label(actor),
        action=action,
        payout_account=payout_account,
        object_count=object_count,
        summary=summary[:500],
        details=details or {},
    )
