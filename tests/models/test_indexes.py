"""Indexes that intake pays for on every row: none twice."""

import pytest
from django.db import connection

from evse_payout.models import CDRRating
from evse_payout.selectors.cdrs import cdr_rating_history
from tests.factories import CDRFactory

pytestmark = pytest.mark.django_db


def _indexes_leading_with(table: str, column: str) -> list[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return sorted(
        name
        for name, info in constraints.items()
        if info["index"] and not info["primary_key"] and info["columns"][:1] == [column]
    )


def test_rating_history_has_one_index_on_its_cdr():
    # `cdr_rating_history_idx` (cdr_id, at DESC) serves every lookup by CDR; a second index on
    # cdr_id would cost every inserted history row an update and serve nothing.
    assert _indexes_leading_with(CDRRating._meta.db_table, "cdr_id") == ["cdr_rating_history_idx"]


@pytest.mark.postgres
def test_rating_history_of_a_cdr_reads_the_history_index():
    cdr = CDRFactory()
    sql, params = cdr_rating_history(cdr).query.sql_with_params()
    with connection.cursor() as cursor:
        # A test table is tiny: without this the planner would rightly read it whole.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row for (row,) in cursor.fetchall())
    assert "cdr_rating_history_idx" in plan
