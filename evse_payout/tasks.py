"""The project's one task: run a background job. The queue carries only the job's id; what the
job does, its progress and its result live on the Job row (services/jobs.py).

django-tasks is the backport of Django 6's `django.tasks`: on Django 6 this import becomes
`from django.tasks import task`.
"""

from django_tasks import task

from .services.jobs import execute_job


@task()
def run_job(job_id: int) -> None:
    execute_job(job_id=job_id)
