from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "SQLite demo only: ensure the superuser admin/admin exists, and say so."

    def handle(self, *args, **options):
        if not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
            self.stdout.write("Not an SQLite demo database: no demo login created.")
            return
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password("admin")
            user.save()
        self.stdout.write(
            self.style.SUCCESS("Demo login: user “admin”, password “admin” (SQLite demo only).")
        )
