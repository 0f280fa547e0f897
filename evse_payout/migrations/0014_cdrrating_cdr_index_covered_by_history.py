# The rating history's own index on cdr_id goes: `cdr_rating_history_idx` (cdr_id, at DESC) leads
# with the same column and serves every lookup by CDR (the CDR page's history, the admin search,
# the cascade), while each imported or re-rated CDR paid for an update of both.
#
# Only the index is dropped (SeparateDatabaseAndState): Django's AlterField would also drop and
# re-add the foreign key constraint, validating it over every history row.

import django.db.models.deletion
from django.db import migrations, models

INDEX = "evse_payout_cdrrating_cdr_id_b6836e71"


class Migration(migrations.Migration):
    dependencies = [
        ("evse_payout", "0013_open_assignment_count"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="cdrrating",
                    name="cdr",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="ratings",
                        to="evse_payout.cdr",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX "{INDEX}" ON "evse_payout_cdrrating" ("cdr_id")',
                ),
            ],
        ),
    ]
