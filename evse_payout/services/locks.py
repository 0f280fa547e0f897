"""The invoicing lock: one row (InvoiceNumberSequence of "year 0", never a real year).

An invoice run holds it exclusively for its whole transaction, so runs take turns. Whatever
changes the rating of a stored CDR holds it in share mode for its transaction, so ratings never
change under a run: a run reads each rated CDR once and puts it on a statement with a narrow
statement line, without writing (or locking) the CDR row. Re-rates do not wait for each other.
On SQLite, which runs one writing transaction at a time, holding it in share mode is a no-op.
"""

from django.db import connection

from ..models import InvoiceNumberSequence

RUN_LOCK_YEAR = 0


def lock_invoicing() -> None:
    """Exclusive: for an invoice run's transaction."""
    InvoiceNumberSequence.objects.select_for_update().get_or_create(year=RUN_LOCK_YEAR)


def hold_rating_lock() -> None:
    """Shared: for a transaction that changes the rating of stored CDRs; waits for a running run."""
    if connection.vendor != "postgresql":
        return
    InvoiceNumberSequence.objects.get_or_create(year=RUN_LOCK_YEAR)
    table = connection.ops.quote_name(InvoiceNumberSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE year = %s FOR SHARE", [RUN_LOCK_YEAR])
