from .accounts import PayoutAccount
from .assignments import Assignment, AssignmentQuerySet, AuditAction, AuditEvent, UnassignReason
from .cdrs import CDR, CDRRating, CDRReason, CDRStatus, OCPIToken
from .invoicing import (
    Invoice,
    InvoiceKind,
    InvoiceNumberSequence,
    InvoiceRun,
    InvoiceRunExclusion,
    InvoiceStatus,
)
from .network import (
    CPO_OWN_LABEL,
    EVSE,
    PHASES,
    Connector,
    EVSEStatus,
    Location,
    PowerType,
    SubCPO,
)

__all__ = [
    "CPO_OWN_LABEL",
    "CDR",
    "EVSE",
    "PHASES",
    "Assignment",
    "AssignmentQuerySet",
    "AuditAction",
    "AuditEvent",
    "CDRRating",
    "CDRReason",
    "CDRStatus",
    "Connector",
    "EVSEStatus",
    "Invoice",
    "InvoiceKind",
    "InvoiceNumberSequence",
    "InvoiceRun",
    "InvoiceRunExclusion",
    "InvoiceStatus",
    "Location",
    "OCPIToken",
    "PayoutAccount",
    "PowerType",
    "SubCPO",
    "UnassignReason",
]
