"""Exclusions of invoice runs are stored compactly: one row per run, reason, account and currency
with the count and amount, instead of one row per CDR left out (issue 14)."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, OuterRef, Q, Subquery, Sum


def aggregate_per_cdr_rows(apps, schema_editor):
    """Fold the per-CDR rows of earlier runs into one row per run, reason, account and currency."""
    Exclusion = apps.get_model("evse_payout", "InvoiceRunExclusion")
    CDR = apps.get_model("evse_payout", "CDR")
    of_cdr = CDR.objects.filter(pk=OuterRef("cdr_id"))
    Exclusion.objects.update(
        currency=Subquery(of_cdr.values("currency")[:1]),
        payout_account_id=Subquery(of_cdr.values("payout_account_id")[:1]),
    )
    groups = list(
        Exclusion.objects.order_by()
        .values("run_id", "reason", "payout_account_id", "currency")
        .annotate(count=Count("pk"), amount=Sum("amount_excl_vat"))
    )
    Exclusion.objects.all().delete()
    Exclusion.objects.bulk_create(
        Exclusion(
            run_id=group["run_id"],
            reason=group["reason"],
            payout_account_id=group["payout_account_id"],
            currency=group["currency"],
            cdr_count=group["count"],
            amount_excl_vat=group["amount"],
        )
        for group in groups
    )
    if schema_editor.connection.vendor == "postgresql":
        # Check the new rows' foreign keys now: PostgreSQL refuses the ALTER TABLEs that follow
        # while deferred trigger events are pending on the table.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


class Migration(migrations.Migration):
    dependencies = [("evse_payout", "0008_audit_actions_of_all_branches")]

    operations = [
        migrations.RemoveConstraint(
            model_name="invoicerunexclusion", name="exclusion_unique_per_run"
        ),
        migrations.RemoveIndex(model_name="invoicerunexclusion", name="exclusion_run_reason_idx"),
        migrations.AddField(
            model_name="invoicerunexclusion",
            name="payout_account",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="evse_payout.payoutaccount",
            ),
        ),
        migrations.AddField(
            model_name="invoicerunexclusion",
            name="currency",
            field=models.CharField(default="", max_length=3),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="invoicerunexclusion",
            name="cdr_count",
            field=models.PositiveIntegerField(default=1),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="invoicerunexclusion",
            name="amount_excl_vat",
            field=models.DecimalField(decimal_places=4, max_digits=20),
        ),
        # The folded rows name no CDR; the column goes right after.
        migrations.AlterField(
            model_name="invoicerunexclusion",
            name="cdr",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="run_exclusions",
                to="evse_payout.cdr",
            ),
        ),
        migrations.RunPython(aggregate_per_cdr_rows, migrations.RunPython.noop),
        migrations.RemoveField(model_name="invoicerunexclusion", name="cdr"),
        migrations.AddConstraint(
            model_name="invoicerunexclusion",
            constraint=models.UniqueConstraint(
                condition=Q(payout_account__isnull=False),
                fields=("run", "reason", "payout_account", "currency"),
                name="exclusion_one_row_per_account",
            ),
        ),
        migrations.AddConstraint(
            model_name="invoicerunexclusion",
            constraint=models.UniqueConstraint(
                condition=Q(payout_account__isnull=True),
                fields=("run", "reason", "currency"),
                name="exclusion_one_row_without_account",
            ),
        ),
        migrations.AddConstraint(
            model_name="invoicerunexclusion",
            constraint=models.CheckConstraint(
                condition=Q(cdr_count__gt=0), name="exclusion_counts_cdrs"
            ),
        ),
    ]
