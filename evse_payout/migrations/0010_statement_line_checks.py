# 4

import django.db.models.deletion
from django.db import migrations, models

"""The database checks what a statement line refers to, set-based (issue 14).

StatementLine has no foreign-key constraints: PostgreSQL checks one by locking the referenced row,
and a run's 589,106 lines took 49 s of row locks on the CDR table. Instead, on PostgreSQL,
statement-level triggers check each INSERT or UPDATE of lines as one set (an anti-join with the
CDR and statement tables) and refuse deleting a CDR or a statement that has lines; SQLite, which
locks nothing per row, checks each inserted or updated row. A violation raises an IntegrityError naming
`statement_line_cdr_exists`, `statement_line_invoice_exists` or `statement_line_protects`.

RunScope is not a table of the schema: an invoice run creates it as a temporary table.
"""

LINES = "evse_payout_statementline"
CDRS = "evse_payout_cdr"
INVOICES = "evse_payout_invoice"

POSTGRESQL = [
    f"""
    CREATE FUNCTION {LINES}_check() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM new_lines l LEFT JOIN {CDRS} c ON c.id = l.cdr_id
                   WHERE c.id IS NULL) THEN
            RAISE foreign_key_violation USING CONSTRAINT = 'statement_line_cdr_exists',
                MESSAGE = 'statement_line_cdr_exists: a statement line names no stored CDR';
        END IF;
        IF EXISTS (SELECT 1 FROM new_lines l LEFT JOIN {INVOICES} i ON i.id = l.invoice_id
                   WHERE i.id IS NULL) THEN
            RAISE foreign_key_violation USING CONSTRAINT = 'statement_line_invoice_exists',
                MESSAGE = 'statement_line_invoice_exists: a statement line names no statement';
        END IF;
        RETURN NULL;
    END $$
    """,
    f"""CREATE TRIGGER {LINES}_insert_check AFTER INSERT ON {LINES}
        REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION {LINES}_check()""",
    f"""CREATE TRIGGER {LINES}_update_check AFTER UPDATE ON {LINES}
        REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION {LINES}_check()""",
    f"""
    CREATE FUNCTION {LINES}_protect() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM gone g JOIN {LINES} l ON l.cdr_id = g.id
                   WHERE TG_TABLE_NAME = '{CDRS}')
           OR EXISTS (SELECT 1 FROM gone g JOIN {LINES} l ON l.invoice_id = g.id
                      WHERE TG_TABLE_NAME = '{INVOICES}') THEN
            RAISE foreign_key_violation USING CONSTRAINT = 'statement_line_protects',
                MESSAGE = 'statement_line_protects: it is on a statement line';
        END IF;
        RETURN NULL;
    END $$
    """,
    f"""CREATE TRIGGER {CDRS}_delete_check AFTER DELETE ON {CDRS}
        REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION {LINES}_protect()""",
    f"""CREATE TRIGGER {INVOICES}_delete_check AFTER DELETE ON {INVOICES}
        REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION {LINES}_protect()""",
]
POSTGRESQL_REVERSE = [
    f"DROP TRIGGER {INVOICES}_delete_check ON {INVOICES}",
    f"DROP TRIGGER {CDRS}_delete_check ON {CDRS}",
    f"DROP TRIGGER {LINES}_update_check ON {LINES}",
    f"DROP TRIGGER {LINES}_insert_check ON {LINES}",
    f"DROP FUNCTION {LINES}_protect()",
    f"DROP FUNCTION {LINES}_check()",
]


def _sqlite_row_check(event: str) -> str:
    return f"""
    CREATE TRIGGER {LINES}_{event.lower()}_check BEFORE {event} ON {LINES}
    BEGIN
        SELECT RAISE(ABORT, 'statement_line_cdr_exists: a statement line names no stored CDR')
        WHERE NOT EXISTS (SELECT 1 FROM {CDRS} WHERE id = NEW.cdr_id);
        SELECT RAISE(ABORT, 'statement_line_invoice_exists: a statement line names no statement')
        WHERE NOT EXISTS (SELECT 1 FROM {INVOICES} WHERE id = NEW.invoice_id);
    END
    """


# No delete triggers on SQLite: Django's flush (tests, `manage.py flush`) empties tables with
# DELETE in name order, CDRs before statement lines; PROTECT on the two foreign keys refuses such
# a delete through Django. (PostgreSQL's flush truncates, which fires no delete trigger.)
SQLITE = [
    _sqlite_row_check("INSERT"),
    _sqlite_row_check("UPDATE"),
]
SQLITE_REVERSE = [
    f"DROP TRIGGER {LINES}_update_check",
    f"DROP TRIGGER {LINES}_insert_check",
]


def _run(statements: dict):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("evse_payout", "0009_statement_lines"),
    ]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
        migrations.CreateModel(
            name="RunScope",
            fields=[
                (
                    "cdr",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="evse_payout.cdr",
                    ),
                ),
                ("currency", models.CharField(max_length=3)),
                ("credit", models.BooleanField()),
                ("rating_status", models.CharField(max_length=16)),
                ("reason", models.CharField(max_length=24)),
                ("excl_vat", models.DecimalField(decimal_places=4, max_digits=16)),
                ("incl_vat", models.DecimalField(decimal_places=4, max_digits=16)),
                ("fee", models.DecimalField(decimal_places=4, max_digits=16, null=True)),
                ("payout", models.DecimalField(decimal_places=4, max_digits=16, null=True)),
                ("start_date_time", models.DateTimeField()),
                ("end_date_time", models.DateTimeField()),
            ],
            options={
                "db_table": "evse_payout_invoice_run_scope",
                "managed": False,
            },
        ),
    ]
