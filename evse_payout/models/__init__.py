from .accounts import PayoutAccount
from .assignments import Assignment, AssignmentQuerySet, AuditAction, AuditEvent, UnassignReason
from .cdrs import CDR, CDRRating, CDRReason, CDRStatus, OCPIToken
from .documents import (
    CREDIT_NOTE_OF,
    Document,
    DocumentKind,
    DocumentNumberSequence,
    VatCategory,
    VatRate,
)
from .invoicing import (
    Invoice,
    InvoiceNumberSequence,
    InvoiceRun,
    InvoiceRunExclusion,
    InvoiceStatus,
)
from .network import (
    EVSE,
    PHASES,
    Connector,
    EVSEStatus,
    Location,
    PowerType,
    SubCPO,
    VatStatus,
)

__all__ = [
    "CREDIT_NOTE_OF",
    "Document",
    "DocumentKind",
    "DocumentNumberSequence",
    "VatCategory",
    "VatRate",
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
    "VatStatus",
]
