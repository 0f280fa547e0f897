import django.db.models.deletion
from django.db import migrations, models
from django.db.models.functions import Upper

"""The unassigned EVSEs as a narrow table kept by the database (issue 14, "Pages"), and the
statistics of the upper-cased city the city filter matches.

A row of `evse_payout_unassignedevse` exists exactly for each EVSE that is not REMOVED and has no
open assignment. Triggers on the EVSE and Assignment tables keep it after every INSERT, UPDATE and
DELETE, whichever path makes it (services, admin, OCPI, raw SQL): the changed EVSEs' rows are
deleted and inserted again from the tables. On PostgreSQL the triggers are statement-level (one
set per statement: a bulk assign of 10,000 EVSEs is one DELETE) and lock the changed EVSE rows
first, so a concurrent change of the same EVSE waits instead of leaving a stale row; SQLite,
which has one writer at a time, keeps them row by row.
"""

UNASSIGNED = "evse_payout_unassignedevse"
EVSES = "evse_payout_evse"
ASSIGNMENTS = "evse_payout_assignment"

# The rows of the EVSEs in `{ids}` as the tables say they are (shared by both databases).
QUALIFYING = f"""
    SELECT e.id, e.location_id, e.evse_id FROM {EVSES} e
    WHERE e.id IN ({{ids}}) AND e.status <> 'REMOVED'
      AND NOT EXISTS (SELECT 1 FROM {ASSIGNMENTS} a
                      WHERE a.evse_id = e.id AND a.unassigned_at IS NULL)
"""
FILL = f"INSERT INTO {UNASSIGNED} (evse_id, location_id, evse_code) " + QUALIFYING.format(
    ids=f"SELECT id FROM {EVSES}"
)

POSTGRESQL = [
    f"""
    CREATE FUNCTION {UNASSIGNED}_sync(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF cardinality(ids) = 0 THEN
            RETURN;
        END IF;
        -- The EVSE rows first (the services lock them in this order too): a concurrent change
        -- of the same EVSE waits, and this statement then reads what it committed.
        PERFORM 1 FROM {EVSES} WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
        DELETE FROM {UNASSIGNED} WHERE evse_id = ANY(ids);
        INSERT INTO {UNASSIGNED} (evse_id, location_id, evse_code)
            {QUALIFYING.format(ids="SELECT unnest(ids)")};
    END $$
    """,
    f"""
    CREATE FUNCTION {ASSIGNMENTS}_unassigned_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            -- An open assignment makes its EVSE assigned: its row goes, nothing is recomputed
            -- (a bulk assign of 10,000 EVSEs); the EVSE rows are locked as in the sync.
            PERFORM 1 FROM {EVSES} WHERE id IN (
                SELECT evse_id FROM changed WHERE unassigned_at IS NULL
            ) ORDER BY id FOR NO KEY UPDATE;
            DELETE FROM {UNASSIGNED} WHERE evse_id IN (
                SELECT evse_id FROM changed WHERE unassigned_at IS NULL
            );
        ELSIF TG_OP = 'UPDATE' THEN
            PERFORM {UNASSIGNED}_sync(ARRAY(
                SELECT evse_id FROM changed UNION SELECT evse_id FROM before));
        ELSE
            PERFORM {UNASSIGNED}_sync(ARRAY(SELECT DISTINCT evse_id FROM before));
        END IF;
        RETURN NULL;
    END $$
    """,
    f"""CREATE TRIGGER {ASSIGNMENTS}_insert_unassigned AFTER INSERT ON {ASSIGNMENTS}
        REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {ASSIGNMENTS}_unassigned_sync()""",
    f"""CREATE TRIGGER {ASSIGNMENTS}_update_unassigned AFTER UPDATE ON {ASSIGNMENTS}
        REFERENCING OLD TABLE AS before NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {ASSIGNMENTS}_unassigned_sync()""",
    f"""CREATE TRIGGER {ASSIGNMENTS}_delete_unassigned AFTER DELETE ON {ASSIGNMENTS}
        REFERENCING OLD TABLE AS before
        FOR EACH STATEMENT EXECUTE FUNCTION {ASSIGNMENTS}_unassigned_sync()""",
    f"""
    CREATE FUNCTION {EVSES}_unassigned_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM {UNASSIGNED}_sync(ARRAY(SELECT id FROM changed));
        ELSIF TG_OP = 'UPDATE' THEN
            -- Only what the row depends on: an OCPI location PUT rewrites 1,000 EVSEs at a time.
            PERFORM {UNASSIGNED}_sync(ARRAY(
                SELECT n.id FROM changed n JOIN before o ON o.id = n.id
                WHERE (n.status = 'REMOVED') IS DISTINCT FROM (o.status = 'REMOVED')
                   OR n.location_id IS DISTINCT FROM o.location_id
                   OR n.evse_id IS DISTINCT FROM o.evse_id));
        ELSE
            DELETE FROM {UNASSIGNED} WHERE evse_id IN (SELECT id FROM before);
        END IF;
        RETURN NULL;
    END $$
    """,
    f"""CREATE TRIGGER {EVSES}_insert_unassigned AFTER INSERT ON {EVSES}
        REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {EVSES}_unassigned_sync()""",
    f"""CREATE TRIGGER {EVSES}_update_unassigned AFTER UPDATE ON {EVSES}
        REFERENCING OLD TABLE AS before NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {EVSES}_unassigned_sync()""",
    f"""CREATE TRIGGER {EVSES}_delete_unassigned AFTER DELETE ON {EVSES}
        REFERENCING OLD TABLE AS before
        FOR EACH STATEMENT EXECUTE FUNCTION {EVSES}_unassigned_sync()""",
    FILL,
]
POSTGRESQL_REVERSE = [
    f"DROP TRIGGER {EVSES}_delete_unassigned ON {EVSES}",
    f"DROP TRIGGER {EVSES}_update_unassigned ON {EVSES}",
    f"DROP TRIGGER {EVSES}_insert_unassigned ON {EVSES}",
    f"DROP FUNCTION {EVSES}_unassigned_sync()",
    f"DROP TRIGGER {ASSIGNMENTS}_delete_unassigned ON {ASSIGNMENTS}",
    f"DROP TRIGGER {ASSIGNMENTS}_update_unassigned ON {ASSIGNMENTS}",
    f"DROP TRIGGER {ASSIGNMENTS}_insert_unassigned ON {ASSIGNMENTS}",
    f"DROP FUNCTION {ASSIGNMENTS}_unassigned_sync()",
    f"DROP FUNCTION {UNASSIGNED}_sync(bigint[])",
]


def _sqlite_sync(*evse_ids: str) -> str:
    ids = ", ".join(evse_ids)
    return f"""
        DELETE FROM {UNASSIGNED} WHERE evse_id IN ({ids});
        INSERT INTO {UNASSIGNED} (evse_id, location_id, evse_code) {QUALIFYING.format(ids=ids)};
    """


SQLITE = [
    f"""CREATE TRIGGER {ASSIGNMENTS}_insert_unassigned AFTER INSERT ON {ASSIGNMENTS}
        BEGIN {_sqlite_sync("NEW.evse_id")} END""",
    f"""CREATE TRIGGER {ASSIGNMENTS}_update_unassigned AFTER UPDATE ON {ASSIGNMENTS}
        BEGIN {_sqlite_sync("OLD.evse_id", "NEW.evse_id")} END""",
    f"""CREATE TRIGGER {ASSIGNMENTS}_delete_unassigned AFTER DELETE ON {ASSIGNMENTS}
        BEGIN {_sqlite_sync("OLD.evse_id")} END""",
    f"""CREATE TRIGGER {EVSES}_insert_unassigned AFTER INSERT ON {EVSES}
        BEGIN {_sqlite_sync("NEW.id")} END""",
    f"""CREATE TRIGGER {EVSES}_update_unassigned AFTER UPDATE OF status, location_id, evse_id
        ON {EVSES} BEGIN {_sqlite_sync("OLD.id", "NEW.id")} END""",
    f"""CREATE TRIGGER {EVSES}_delete_unassigned AFTER DELETE ON {EVSES}
        BEGIN DELETE FROM {UNASSIGNED} WHERE evse_id = OLD.id; END""",
    FILL,
]
SQLITE_REVERSE = [
    f"DROP TRIGGER {EVSES}_delete_unassigned",
    f"DROP TRIGGER {EVSES}_update_unassigned",
    f"DROP TRIGGER {EVSES}_insert_unassigned",
    f"DROP TRIGGER {ASSIGNMENTS}_delete_unassigned",
    f"DROP TRIGGER {ASSIGNMENTS}_update_unassigned",
    f"DROP TRIGGER {ASSIGNMENTS}_insert_unassigned",
]


def _run(statements: dict):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("evse_payout", "0011_bundle_documents_bundle_job"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="location",
            index=models.Index(Upper("city"), name="location_city_upper_idx"),
        ),
        migrations.CreateModel(
            name="UnassignedEVSE",
            fields=[
                (
                    "evse",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="unassigned_entry",
                        serialize=False,
                        to="evse_payout.evse",
                    ),
                ),
                (
                    "evse_code",
                    models.CharField(
                        help_text="A copy of the EVSE's EVSE ID, for sorting.",
                        max_length=48,
                        verbose_name="EVSE ID",
                    ),
                ),
                (
                    "location",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="evse_payout.location",
                    ),
                ),
            ],
            options={
                "verbose_name": "unassigned EVSE",
                "verbose_name_plural": "unassigned EVSEs",
                "indexes": [
                    models.Index(
                        fields=["location", "evse_code"], name="unassigned_evse_location_idx"
                    ),
                    models.Index(fields=["evse_code", "evse"], name="unassigned_evse_code_idx"),
                ],
            },
        ),
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
