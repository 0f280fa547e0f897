from .accounts import PayoutAccount
from .assignments import Assignment, AssignmentQuerySet, AuditAction, AuditEvent, UnassignReason
from .cdrs import CDR, CDRRating, CDRReason, CDRStatus, OCPIPartyRole, OCPIToken, OCPITokenParty
from .invoicing import (
    Invoice,
    InvoiceNumberSequence,
    InvoiceRun,
    InvoiceRunExclusion,
    InvoiceStatus,
)
from .network import EVSE, PHASES, Connector, EVSEStatus, Location, PowerType, SubCPO

__all__ = [
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
    "OCPIPartyRole",
    "OCPIToken",
    "OCPITokenParty",
    "PayoutAccount",
    "PowerType",
    "SubCPO",
    "UnassignReason",
]
