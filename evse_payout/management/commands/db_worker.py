from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand

from evse_payout.services.jobs import mark_interrupted_jobs


class Command(DatabaseWorkerCommand):
    help = (
        "Run a background worker (django-tasks-db). On start it marks the jobs whose worker was "
        "killed as failed — interrupted."
    )

    def handle(self, *args, **options):
        if marked := mark_interrupted_jobs():
            self.stdout.write(f"Marked {marked:,} interrupted jobs as failed.")
        super().handle(*args, **options)
