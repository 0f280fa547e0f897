"""R4's safety net: whatever saves a payout account as inactive also closes its open assignments.

The services (`services.accounts.deactivate_payout_account`) close them explicitly and store the
activity without `save()`; this catches every other `save()` — a shell, a fixture, code that
forgot the service — with the same close function. `PayoutAccount.save()` runs inside a
transaction, so the assignments close atomically with it.
"""

from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from .models import PayoutAccount
from .services.accounts import close_assignments_of_deactivated_account


@receiver(pre_save, sender=PayoutAccount, dispatch_uid="payout_account_remember_activity")
def remember_previous_activity(sender, instance, raw=False, **kwargs):
    if raw or instance.pk is None:
        instance._was_active = False
        return
    instance._was_active = (
        PayoutAccount.objects.select_for_update()
        .filter(pk=instance.pk)
        .values_list("is_active", flat=True)
        .first()
    )
    if instance.is_active:
        instance.deactivated_at = None
        instance.deactivated_by = None
    elif instance._was_active:
        instance.deactivated_at = timezone.now()


@receiver(post_save, sender=PayoutAccount, dispatch_uid="payout_account_unassign_on_deactivation")
def unassign_on_deactivation(sender, instance, raw=False, **kwargs):
    if raw or not getattr(instance, "_was_active", False) or instance.is_active:
        return
    close_assignments_of_deactivated_account(account=instance, actor=instance.deactivated_by)
    instance._was_active = False
