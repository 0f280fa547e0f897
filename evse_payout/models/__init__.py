from .accounts import PayoutAccount
from .assignments import Assignment, AssignmentQuerySet, AuditAction, AuditEvent, UnassignReason
from .cdrs import CDR, CDRRating, CDRReason, CDRStatus, OCPIPartyRole, OCPIToken, OCPITokenParty
from .invoicing import (
    Invoice,
    InvoiceKind,
    InvoiceNumberSequence,
    InvoiceRun,
    InvoiceRunExclusion,
    InvoiceStatus,
)
from .jobs import BATCHED_KINDS, FINISHED_STATES, Job, JobKind, JobState
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
    "BATCHED_KINDS",
    "FINISHED_STATES",
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
    "Job",
    "JobKind",
    "JobState",
    "Location",
    "OCPIPartyRole",
    "OCPIToken",
    "OCPITokenParty",
    "PayoutAccount",
    "PowerType",
    "SubCPO",
    "UnassignReason",
]
