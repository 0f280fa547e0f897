import django.db.models.deletion
from django.db import migrations, models

"""The open assignments per payout account, counted by the database (issue 14, "Pages").

`evse_payout_openassignmentcount` holds, per account, how many open assignments it has. Triggers
on the Assignment table add and subtract after every INSERT, UPDATE and DELETE, whichever path
makes it; on PostgreSQL once per statement (a bulk assign of 10,000 EVSEs is one upsert), the
accounts in key order so two statements never wait on each other's counters in opposite orders.
"""

COUNTS = "evse_payout_openassignmentcount"
ASSIGNMENTS = "evse_payout_assignment"
UPSERT = f"""
    INSERT INTO {COUNTS} (payout_account_id, count)
    SELECT payout_account_id, SUM(delta) FROM ({{deltas}}) d
    GROUP BY payout_account_id HAVING SUM(delta) <> 0 ORDER BY payout_account_id
    ON CONFLICT (payout_account_id) DO UPDATE SET count = {COUNTS}.count + EXCLUDED.count
"""
OPENED = "SELECT payout_account_id, 1 AS delta FROM changed WHERE unassigned_at IS NULL"
CLOSED = "SELECT payout_account_id, -1 AS delta FROM before WHERE unassigned_at IS NULL"

POSTGRESQL = [
    f"""
    CREATE FUNCTION {COUNTS}_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {UPSERT.format(deltas=OPENED)};
        ELSIF TG_OP = 'UPDATE' THEN
            {UPSERT.format(deltas=f"{OPENED} UNION ALL {CLOSED}")};
        ELSE
            {UPSERT.format(deltas=CLOSED)};
        END IF;
        RETURN NULL;
    END $$
    """,
    f"""CREATE TRIGGER {ASSIGNMENTS}_insert_count AFTER INSERT ON {ASSIGNMENTS}
        REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {COUNTS}_keep()""",
    f"""CREATE TRIGGER {ASSIGNMENTS}_update_count AFTER UPDATE ON {ASSIGNMENTS}
        REFERENCING OLD TABLE AS before NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {COUNTS}_keep()""",
    f"""CREATE TRIGGER {ASSIGNMENTS}_delete_count AFTER DELETE ON {ASSIGNMENTS}
        REFERENCING OLD TABLE AS before
        FOR EACH STATEMENT EXECUTE FUNCTION {COUNTS}_keep()""",
]
POSTGRESQL_REVERSE = [
    f"DROP TRIGGER {ASSIGNMENTS}_delete_count ON {ASSIGNMENTS}",
    f"DROP TRIGGER {ASSIGNMENTS}_update_count ON {ASSIGNMENTS}",
    f"DROP TRIGGER {ASSIGNMENTS}_insert_count ON {ASSIGNMENTS}",
    f"DROP FUNCTION {COUNTS}_keep()",
]


def _sqlite_add(account: str, delta: int, when: str) -> str:
    return f"""
        INSERT INTO {COUNTS} (payout_account_id, count) SELECT {account}, {delta} WHERE {when}
        ON CONFLICT (payout_account_id) DO UPDATE SET count = count + excluded.count;
    """


SQLITE = [
    f"""CREATE TRIGGER {ASSIGNMENTS}_insert_count AFTER INSERT ON {ASSIGNMENTS} BEGIN
        {_sqlite_add("NEW.payout_account_id", 1, "NEW.unassigned_at IS NULL")} END""",
    f"""CREATE TRIGGER {ASSIGNMENTS}_update_count AFTER UPDATE ON {ASSIGNMENTS} BEGIN
        {_sqlite_add("OLD.payout_account_id", -1, "OLD.unassigned_at IS NULL")}
        {_sqlite_add("NEW.payout_account_id", 1, "NEW.unassigned_at IS NULL")} END""",
    f"""CREATE TRIGGER {ASSIGNMENTS}_delete_count AFTER DELETE ON {ASSIGNMENTS} BEGIN
        {_sqlite_add("OLD.payout_account_id", -1, "OLD.unassigned_at IS NULL")} END""",
]
SQLITE_REVERSE = [
    f"DROP TRIGGER {ASSIGNMENTS}_delete_count",
    f"DROP TRIGGER {ASSIGNMENTS}_update_count",
    f"DROP TRIGGER {ASSIGNMENTS}_insert_count",
]
FILL = f"""
    INSERT INTO {COUNTS} (payout_account_id, count)
    SELECT payout_account_id, COUNT(*) FROM {ASSIGNMENTS} WHERE unassigned_at IS NULL
    GROUP BY payout_account_id
"""


def _run(statements: dict):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("evse_payout", "0012_unassigned_evse"),
    ]

    operations = [
        migrations.CreateModel(
            name="OpenAssignmentCount",
            fields=[
                (
                    "payout_account",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="open_assignment_count",
                        serialize=False,
                        to="evse_payout.payoutaccount",
                    ),
                ),
                ("count", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(
            _run({"postgresql": [*POSTGRESQL, FILL], "sqlite": [*SQLITE, FILL]}),
            _run({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
