"""The three staff roles of the back office, with their model permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = [
    f"view_{model}"
    for model in (
        "subcpo", "location", "evse", "connector", "payoutaccount", "assignment", "auditevent",
        "cdr", "cdrrating", "invoicerun", "invoice",
    )
]  # fmt: skip

GROUPS = {
    "Payout viewer": VIEW,
    "Payout manager": [*VIEW, "add_assignment", "change_assignment", "change_cdr"],
    "Finance": [
        *VIEW, "add_payoutaccount", "change_payoutaccount", "change_cdr",
        "add_invoicerun", "change_invoicerun", "change_invoice",
    ],
}  # fmt: skip


def create_groups(apps, schema_editor):
    app_config = apps.get_app_config("evse_payout")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="evse_payout", codename__in=codenames)
        )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("evse_payout", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
