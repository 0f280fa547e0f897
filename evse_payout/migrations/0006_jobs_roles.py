"""Jobs in the roles: everyone sees jobs; managers and finance cancel them and import files."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Payout viewer": ["view_job"],
    "Payout manager": ["view_job", "change_job", "add_cdr", "add_location"],
    "Finance": ["view_job", "change_job", "add_cdr", "add_location"],
}


def grant_job_permissions(apps, schema_editor):
    app_config = apps.get_app_config("evse_payout")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(
                *Permission.objects.filter(
                    content_type__app_label="evse_payout", codename__in=codenames
                )
            )


def revoke_job_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(
                    content_type__app_label="evse_payout", codename__in=codenames
                )
            )


class Migration(migrations.Migration):
    dependencies = [("evse_payout", "0005_jobs_job")]

    operations = [migrations.RunPython(grant_job_permissions, revoke_job_permissions)]
