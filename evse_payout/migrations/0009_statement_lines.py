"""Statement membership moves off the CDR row into StatementLine (issue 14): a CDR on a statement
gets a line, its stored status (now `rating_status`) goes back to `rated`, and `CDR.status` is
derived (`invoiced` while a line exists)."""

import django.db.models.deletion
from django.db import migrations, models


LINES = "evse_payout_statementline"
CDRS = "evse_payout_cdr"


def _check_foreign_keys_now(schema_editor):
    # The new rows' deferred foreign-key checks must run before the ALTER TABLEs that follow.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def move_membership_to_lines(apps, schema_editor):
    schema_editor.execute(
        f"INSERT INTO {LINES} (cdr_id, invoice_id) "
        f"SELECT id, invoice_id FROM {CDRS} WHERE invoice_id IS NOT NULL"
    )
    schema_editor.execute(f"UPDATE {CDRS} SET status = 'rated' WHERE status = 'invoiced'")
    _check_foreign_keys_now(schema_editor)


def move_membership_back(apps, schema_editor):
    schema_editor.execute(
        f"UPDATE {CDRS} SET status = 'invoiced', invoice_id = "
        f"(SELECT l.invoice_id FROM {LINES} l WHERE l.cdr_id = {CDRS}.id) "
        f"WHERE id IN (SELECT cdr_id FROM {LINES})"
    )
    schema_editor.execute(f"DELETE FROM {LINES}")
    _check_foreign_keys_now(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("evse_payout", "0005_perf_compact_exclusions"),
    ]

    operations = [
        migrations.CreateModel(
            name="StatementLine",
            fields=[
                (
                    "cdr",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="statement_line",
                        serialize=False,
                        to="evse_payout.cdr",
                    ),
                ),
                (
                    "invoice",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="lines",
                        to="evse_payout.invoice",
                    ),
                ),
            ],
            options={
                "verbose_name": "statement line",
            },
        ),
        migrations.RemoveConstraint(
            model_name="cdr",
            name="cdr_status_valid",
        ),
        migrations.RemoveConstraint(
            model_name="cdr",
            name="cdr_invoiced_iff_on_statement",
        ),
        migrations.RemoveConstraint(
            model_name="cdr",
            name="cdr_not_invoiceable_has_reason",
        ),
        migrations.RemoveConstraint(
            model_name="cdr",
            name="cdr_rated_has_account_and_amounts",
        ),
        migrations.RemoveIndex(
            model_name="cdr",
            name="cdr_status_reason_idx",
        ),
        migrations.RemoveIndex(
            model_name="cdr",
            name="cdr_evse_status_idx",
        ),
        migrations.RemoveIndex(
            model_name="cdr",
            name="cdr_invoice_idx",
        ),
        migrations.RunPython(move_membership_to_lines, move_membership_back, elidable=False),
        migrations.RenameField(
            model_name="cdr",
            old_name="status",
            new_name="rating_status",
        ),
        migrations.RemoveField(
            model_name="cdr",
            name="invoice",
        ),
        migrations.AddIndex(
            model_name="cdr",
            index=models.Index(
                fields=["rating_status", "reason", "-end_date_time"], name="cdr_status_reason_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="cdr",
            index=models.Index(
                fields=["evse", "rating_status", "reason"], name="cdr_evse_status_idx"
            ),
        ),
        migrations.AddConstraint(
            model_name="cdr",
            constraint=models.CheckConstraint(
                condition=models.Q(("rating_status__in", ["new", "rated", "not_invoiceable"])),
                name="cdr_rating_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="cdr",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("rating_status", "rated"), _negated=True),
                    models.Q(
                        ("payout_account__isnull", False),
                        ("fee__isnull", False),
                        ("payout__isnull", False),
                        ("terms_commission_percent__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="cdr_rated_has_account_and_amounts",
            ),
        ),
        migrations.AddConstraint(
            model_name="cdr",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("rating_status", "not_invoiceable"), _negated=True),
                    models.Q(("reason", ""), _negated=True),
                    _connector="OR",
                ),
                name="cdr_not_invoiceable_has_reason",
            ),
        ),
        migrations.AddIndex(
            model_name="statementline",
            index=models.Index(fields=["invoice", "cdr"], name="statement_line_invoice_idx"),
        ),
    ]
