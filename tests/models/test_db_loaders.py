"""PostgreSQL timestamps are read by psycopg's C parser (evse_payout/db_loaders.py), with the
same values Django's own loader gives: same instant, same fields, `tzinfo` UTC."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TEXTS = [
    "2026-12-01 10:11:12.123456+00",
    "2026-03-29 01:59:59+01",
    "1999-12-31 23:59:59.5-09:30",
    "2026-10-25 02:30:00+02",
]


def _read(texts):
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(%s::timestamptz[])", [[text for text in texts]])
        return [row[0] for row in cursor.fetchall()]


def test_timestamps_read_fast_equal_what_django_reads():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    connection.ensure_connection()
    fast = _read(TEXTS)
    loader = connection.connection.adapters.get_loader(1184, 0)  # timestamptz, text
    assert loader.__name__ == "FastTzLoader"
    register_tzloader(connection.timezone, connection.connection)  # Django's own, back again
    slow = _read(TEXTS)
    assert fast == slow
    assert [value.tzinfo for value in fast] == [UTC] * len(TEXTS)
    assert [(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond) for v in fast] == [
        (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond) for v in slow
    ]
    # Written by hand: 1999-12-31 23:59:59.5 at −09:30 is 2000-01-01 09:29:59.5 UTC.
    assert fast[2] == datetime(2000, 1, 1, 9, 29, 59, 500000, tzinfo=UTC)
    assert fast[2] == datetime(
        1999, 12, 31, 23, 59, 59, 500000, tzinfo=timezone(-timedelta(hours=9, minutes=30))
    )
