"""A run's documents in one ZIP: the PDF and UBL of every document of its final statements, the
run's SEPA file when asked for, and a README listing each file with its statement and amount.

Written statement by statement into a file the caller gives (a worker's temporary file), so a run
of 200 statements of 3,000 lines never holds more than one rendered document in memory; the
`progress` callback is called after each statement (a job stops there when it is cancelled).
"""

import itertools
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from django.utils import timezone

from ..models import Document, InvoiceRun
from ..money import format_money
from ..selectors.invoicing import run_documents
from .pdf import pdf_filename, render_document_pdf
from .sepa import SepaError, render_run_sepa, sepa_filename
from .ubl import render_ubl, ubl_filename

README_NAME = "README.txt"


class NothingToBundle(Exception):
    """The run has no final statement with documents; the message says what to do."""


@dataclass(frozen=True)
class BundleFile:
    name: str
    statement: str
    what: str
    amount: str


@dataclass
class RunBundle:
    files: list[BundleFile] = field(default_factory=list)
    statement_count: int = 0
    sepa_file: str = ""
    sepa_note: str = ""

    @property
    def document_file_count(self) -> int:
        return len(self.files) - bool(self.sepa_file)


def bundle_statements(run: InvoiceRun) -> list[list[Document]]:
    """The run's documents grouped per final statement, in statement number order."""
    documents = run_documents(run)
    return [list(group) for _, group in itertools.groupby(documents, key=lambda d: d.invoice_id)]


def write_run_bundle(
    *,
    run: InvoiceRun,
    archive: BinaryIO,
    statements: list[list[Document]],
    include_sepa: bool,
    progress: Callable[[int], None],
) -> RunBundle:
    """Write the ZIP of `statements` (from `bundle_statements`) into `archive`."""
    if not statements:
        raise NothingToBundle(
            f"invoice run {run.pk} has no final statement with documents; finalize its drafts "
            "first, then build the ZIP again."
        )
    bundle = RunBundle()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zip_file:
        if include_sepa:
            _add_sepa(zip_file, run, bundle)
        for documents in statements:
            for document in documents:
                _add_document(zip_file, document, bundle)
            bundle.statement_count += 1
            progress(1)
        zip_file.writestr(README_NAME, readme(run, bundle))
    return bundle


def _add_document(zip_file: zipfile.ZipFile, document: Document, bundle: RunBundle) -> None:
    statement = document.invoice.number or "—"
    what = document.get_kind_display()
    if document.corrects_id:
        what += f" (reverses {document.corrects.number})"
    amount = format_money(document.total, document.currency)
    for name, content in (
        (pdf_filename(document), render_document_pdf(document)),
        (ubl_filename(document), render_ubl(document)),
    ):
        zip_file.writestr(name, content)
        bundle.files.append(BundleFile(name, statement, what, amount))


def _add_sepa(zip_file: zipfile.ZipFile, run: InvoiceRun, bundle: RunBundle) -> None:
    try:
        content, batch = render_run_sepa(run=run)
    except SepaError as exc:
        bundle.sepa_note = f"No SEPA file: {exc}"
        return
    bundle.sepa_file = sepa_filename(run)
    zip_file.writestr(bundle.sepa_file, content)
    payments = len(batch.payments)
    bundle.files.append(
        BundleFile(
            bundle.sepa_file,
            "all paid statements",
            f"SEPA credit transfers ({payments} payment{'s' if payments != 1 else ''})",
            format_money(batch.control_sum, "EUR"),
        )
    )
    if batch.left_out:
        bundle.sepa_note = "Not in the SEPA file: " + "; ".join(
            f"{item.statement_number} ({item.payee}, {format_money(item.amount, item.currency)}): "
            f"{item.reason}"
            for item in batch.left_out
        )


def readme(run: InvoiceRun, bundle: RunBundle) -> str:
    """The README: one row per file (file, statement, document, amount incl. VAT)."""
    rows = [("File", "Statement", "Document", "Amount")]
    rows += [(f.name, f.statement, f.what, f.amount) for f in bundle.files]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    table = "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    )
    lines = [
        f"Documents of invoice run {run.pk} (cutoff {run.cutoff:%Y-%m-%d}), built "
        f"{timezone.now():%Y-%m-%d %H:%M} UTC.",
        f"{bundle.statement_count} final statement{'s' if bundle.statement_count != 1 else ''}: "
        "each document as PDF and as UBL 2.1 XML. "
        "Amounts are the documents' totals incl. VAT; the SEPA file's is the sum it pays.",
        "",
        table,
    ]
    if bundle.sepa_note:
        lines += ["", bundle.sepa_note]
    return "\n".join(lines) + "\n"
