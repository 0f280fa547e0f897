"""The bulk "Rerate CDRs" selection: the checked CDRs, or every CDR the re-posted filters match."""

from .selection import BulkSelectionForm


class CDRRerateForm(BulkSelectionForm):
    row_field = "pk"
    across_field = "select_all"
    noun = "CDR"
