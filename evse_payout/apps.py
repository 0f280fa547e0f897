from django.apps import AppConfig


class EvsePayoutConfig(AppConfig):
    name = "evse_payout"
    verbose_name = "EVSE payout"
    default_auto_field = "django.db.models.BigAutoField"

    def connect_signals(self):
        from . import signals  # noqa: F401

    def ready(self):
        self.connect_signals()
        from . import db_loaders

        db_loaders.connect()
        from . import job_kinds  # noqa: F401  (registers what each kind of job runs)
