"""The constraints that need the fee terms and payee copies of 0006."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("evse_payout", "0006_settlement_copy_terms_payees"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="cdr",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "rated"), _negated=True),
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
            model_name="invoice",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "final"), _negated=True),
                    ("number__isnull", False),
                    ("kind", "revenue_report"),
                    _connector="OR",
                ),
                name="invoice_final_has_number",
            ),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind", "revenue_report"), _negated=True),
                    ("number__isnull", True),
                    _connector="OR",
                ),
                name="invoice_revenue_report_has_no_number",
            ),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "final"), _negated=True),
                    models.Q(("payee_iban", ""), _negated=True),
                    ("kind", "revenue_report"),
                    _connector="OR",
                ),
                name="invoice_final_has_frozen_payee",
            ),
        ),
        migrations.AddConstraint(
            model_name="payoutaccount",
            constraint=models.CheckConstraint(
                condition=models.Q(("minimum_payout__gte", 0)),
                name="account_minimum_payout_non_negative",
            ),
        ),
    ]
