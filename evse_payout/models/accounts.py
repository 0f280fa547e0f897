"""Payout accounts: where the money of assigned EVSEs goes."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Q

from ..validators import normalize_iban, validate_bic, validate_currency, validate_iban
from .network import SubCPO


class PayoutAccountQuerySet(models.QuerySet):
    def update(self, **kwargs):
        if "is_active" in kwargs:
            # R4: deactivation must close open assignments, which a bulk UPDATE would skip.
            raise TypeError(
                "Change is_active through evse_payout.services.assignments "
                "(deactivate_payout_account / reactivate_payout_account), not QuerySet.update()."
            )
        return super().update(**kwargs)

    def active(self):
        return self.filter(is_active=True)


class PayoutAccount(models.Model):
    name = models.CharField(max_length=200, unique=True)
    holder = models.ForeignKey(
        SubCPO,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payout_accounts",
        help_text="The Sub-CPO paid through this account. Empty: the CPO's own account.",
    )
    account_holder_name = models.CharField(max_length=70)
    iban = models.CharField("IBAN", max_length=34, validators=[validate_iban])
    bic = models.CharField("BIC", max_length=11, blank=True, validators=[validate_bic])
    vat_number = models.CharField("VAT number", max_length=32, blank=True)
    currency = models.CharField(max_length=3, default="EUR", validators=[validate_currency])
    commission_percent = models.DecimalField(
        "commission (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    fee_per_kwh = models.DecimalField(
        "fee per kWh",
        max_digits=8,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
    )
    fee_per_session = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    minimum_payout = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        default=Decimal("0.00"),
        validators=[MinValueValidator(0)],
        help_text="A statement payable below this is carried forward to the next statement.",
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    deactivated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = PayoutAccountQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(commission_percent__gte=0) & Q(commission_percent__lte=100),
                name="account_commission_between_0_and_100",
            ),
            models.CheckConstraint(
                condition=Q(fee_per_kwh__gte=0), name="account_fee_per_kwh_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(fee_per_session__gte=0), name="account_fee_per_session_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(minimum_payout__gte=0), name="account_minimum_payout_non_negative"
            ),
        ]
        indexes = [models.Index(fields=["holder", "is_active"], name="account_holder_active_idx")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.iban = normalize_iban(self.iban)
        self.bic = (self.bic or "").strip().upper()
        self.currency = (self.currency or "").strip().upper()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "is_active" in update_fields:
            # The signal stamps when and by whom; a partial save must store that too.
            kwargs["update_fields"] = {*update_fields, "deactivated_at", "deactivated_by"}
        # The deactivation signal (R4) closes assignments inside this same transaction.
        with transaction.atomic(using=kwargs.get("using")):
            super().save(*args, **kwargs)

    @property
    def holder_label(self):
        return self.holder.name if self.holder_id else "CPO (own)"
