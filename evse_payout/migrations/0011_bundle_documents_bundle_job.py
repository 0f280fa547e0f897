# The documents bundle job kind, and at most one queued or running bundle per invoice run.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("evse_payout", "0010_statement_line_checks"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="job",
            name="job_kind_valid",
        ),
        migrations.AlterField(
            model_name="job",
            name="kind",
            field=models.CharField(
                choices=[
                    ("invoice_run", "Invoice run"),
                    ("invoice_preview", "Invoice run preview"),
                    ("rerate", "Re-rate CDRs"),
                    ("import_cdrs", "Import CDRs"),
                    ("import_locations", "Import locations"),
                    ("documents_bundle", "Documents bundle"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddConstraint(
            model_name="job",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "kind__in",
                        [
                            "invoice_run",
                            "invoice_preview",
                            "rerate",
                            "import_cdrs",
                            "import_locations",
                            "documents_bundle",
                        ],
                    )
                ),
                name="job_kind_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="job",
            constraint=models.UniqueConstraint(
                models.F("parameters__run"),
                condition=models.Q(
                    ("kind", "documents_bundle"), ("state__in", ["queued", "running"])
                ),
                name="job_one_active_bundle_per_run",
            ),
        ),
    ]
