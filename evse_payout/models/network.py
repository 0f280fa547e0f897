"""The charging network: Sub-CPOs, OCPI locations, EVSEs and their connectors."""

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper

from ..validators import (
    country_alpha2,
    country_name,
    normalize_evse_id,
    normalize_vat_number,
    validate_country_alpha3,
    validate_evse_id,
    validate_vat_number,
    vat_number_country,
)


class VatStatus(models.TextChoices):
    REGISTERED = "registered", "VAT registered"
    NOT_REGISTERED = "not_registered", "Not registered for VAT"
    EXEMPT = "exempt", "Exempt from VAT"


# How the CPO reads wherever an owner or holder is shown (a Location without owner, an account
# without holder): tables, filters, pickers, messages and the admin all use this one label.
CPO_OWN_LABEL = "CPO (own)"


class SubCPO(models.Model):
    """An external client that owns EVSEs and is paid out for them.

    It is the seller on the self-billed invoices the CPO writes on its behalf, so it carries what
    such an invoice must name: a structured address, its VAT status and number, and the
    self-billing agreement that allows the CPO to invoice for it.
    """

    name = models.CharField(max_length=200, unique=True)
    country = models.CharField(
        max_length=3,
        validators=[validate_country_alpha3],
        help_text="ISO 3166-1 alpha-3, e.g. BEL. The country of its address and of its VAT.",
    )
    street = models.CharField(max_length=70, blank=True)
    building_number = models.CharField(max_length=16, blank=True)
    postal_code = models.CharField(max_length=16, blank=True)
    city = models.CharField(max_length=35, blank=True)
    vat_status = models.CharField(
        "VAT status", max_length=16, choices=VatStatus.choices, default=VatStatus.REGISTERED
    )
    vat_number = models.CharField(
        "VAT number",
        max_length=32,
        blank=True,
        validators=[validate_vat_number],
        help_text="EU VAT number with its country prefix, e.g. BE0123456749. Checked offline.",
    )
    agreement_reference = models.CharField(
        "self-billing agreement reference", max_length=64, blank=True
    )
    agreement_signed_on = models.DateField(
        "self-billing agreement signed on", null=True, blank=True
    )
    agreement_valid_until = models.DateField(
        "self-billing agreement valid until",
        null=True,
        blank=True,
        help_text="Empty: until terminated.",
    )
    is_active = models.BooleanField("active", default=True)

    class Meta:
        verbose_name = "Sub-CPO"
        verbose_name_plural = "Sub-CPOs"
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(vat_status__in=VatStatus.values), name="subcpo_vat_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(vat_status=VatStatus.REGISTERED) | ~Q(vat_number=""),
                name="subcpo_registered_has_vat_number",
            ),
            models.CheckConstraint(
                condition=Q(agreement_valid_until__isnull=True)
                | Q(agreement_signed_on__isnull=True)
                | Q(agreement_valid_until__gte=F("agreement_signed_on")),
                name="subcpo_agreement_valid_after_signed",
            ),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.vat_number = normalize_vat_number(self.vat_number)
        super().save(*args, **kwargs)

    def clean(self):
        errors = {}
        if self.vat_status == VatStatus.REGISTERED and not self.vat_number:
            errors["vat_number"] = "A VAT-registered Sub-CPO needs its VAT number."
        elif (
            self.vat_number
            and self.country
            and vat_number_country(self.vat_number) != country_alpha2(self.country)
        ):
            errors["vat_number"] = (
                f"The VAT number {self.vat_number} is not of the Sub-CPO's country "
                f"({self.country})."
            )
        if (
            self.agreement_signed_on
            and self.agreement_valid_until
            and self.agreement_valid_until < self.agreement_signed_on
        ):
            errors["agreement_valid_until"] = "The agreement cannot end before it was signed."
        if errors:
            raise ValidationError(errors)

    @property
    def country_alpha2(self) -> str:
        """ISO 3166-1 alpha-2 of `country`, as e-invoices, SEPA and VAT rates spell it."""
        return country_alpha2(self.country)


class Location(models.Model):
    """An OCPI location (site); its owner owns every EVSE at it."""

    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    location_id = models.CharField("OCPI location id", max_length=36)
    name = models.CharField(max_length=255, blank=True)
    address = models.CharField(max_length=45)
    postal_code = models.CharField(max_length=10, blank=True)
    city = models.CharField(max_length=45)
    country = models.CharField(max_length=3, validators=[validate_country_alpha3])
    time_zone = models.CharField(max_length=255, blank=True)
    owner = models.ForeignKey(
        SubCPO,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="locations",
        help_text="Empty: the CPO's own location.",
    )
    last_updated = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["country_code", "party_id", "location_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["country_code", "party_id", "location_id"],
                name="location_unique_ocpi_id",
            )
        ]
        indexes = [
            models.Index(fields=["city", "id"], name="location_city_idx"),
            # The city filter matches UPPER(city) LIKE 'ANTWERPEN%': with this index PostgreSQL
            # keeps statistics of the upper-cased city and estimates the match (615 locations,
            # not 25), which decides how the EVSE tables are joined.
            models.Index(Upper("city"), name="location_city_upper_idx"),
            models.Index(fields=["postal_code", "id"], name="location_postal_code_idx"),
            models.Index(fields=["country", "id"], name="location_country_idx"),
        ]

    def __str__(self):
        return self.name or f"{self.country_code}*{self.party_id} {self.location_id}"

    @property
    def country_name(self):
        return country_name(self.country)


class PowerType(models.TextChoices):
    AC_1_PHASE = "AC_1_PHASE", "AC 1-phase"
    AC_2_PHASE = "AC_2_PHASE", "AC 2-phase"
    AC_2_PHASE_SPLIT = "AC_2_PHASE_SPLIT", "AC 2-phase split"
    AC_3_PHASE = "AC_3_PHASE", "AC 3-phase"
    DC = "DC", "DC"


PHASES = {
    PowerType.AC_1_PHASE: 1,
    PowerType.AC_2_PHASE: 2,
    PowerType.AC_2_PHASE_SPLIT: 2,
    PowerType.AC_3_PHASE: 3,
    PowerType.DC: 1,
}


class EVSEStatus(models.TextChoices):
    AVAILABLE = "AVAILABLE"
    BLOCKED = "BLOCKED"
    CHARGING = "CHARGING"
    INOPERATIVE = "INOPERATIVE"
    OUTOFORDER = "OUTOFORDER", "Out of order"
    PLANNED = "PLANNED"
    REMOVED = "REMOVED"
    RESERVED = "RESERVED"
    UNKNOWN = "UNKNOWN"


class EVSEQuerySet(models.QuerySet):
    def active(self):
        return self.exclude(status=EVSEStatus.REMOVED)


class EVSE(models.Model):
    """One charge point. Its identity is the OCPI uid; `evse_id` is the human-readable eMI3 id."""

    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    uid = models.CharField("OCPI uid", max_length=36)
    evse_id = models.CharField(
        "EVSE ID",
        max_length=48,
        validators=[validate_evse_id],
        help_text="eMI3, e.g. BE*BEC*E041503003.",
    )
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="evses")
    power_type = models.CharField(max_length=16, choices=PowerType.choices)
    output_kw = models.DecimalField(
        "output (kW)", max_digits=8, decimal_places=2, validators=[MinValueValidator(0)]
    )
    status = models.CharField(
        max_length=12, choices=EVSEStatus.choices, default=EVSEStatus.AVAILABLE
    )
    last_updated = models.DateTimeField(null=True, blank=True)

    objects = EVSEQuerySet.as_manager()

    class Meta:
        verbose_name = "EVSE"
        verbose_name_plural = "EVSEs"
        ordering = ["evse_id", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["country_code", "party_id", "uid"], name="evse_unique_ocpi_uid"
            ),
            models.UniqueConstraint(
                fields=["evse_id"],
                condition=~Q(status="REMOVED"),
                name="evse_id_unique_unless_removed",
            ),
            models.CheckConstraint(condition=Q(output_kw__gte=0), name="evse_output_non_negative"),
            models.CheckConstraint(
                condition=Q(power_type__in=PowerType.values), name="evse_power_type_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["evse_id", "id"], name="evse_evse_id_idx"),
            # Sorting by output or power type breaks ties by EVSE ID (then the pk), on the index.
            models.Index(fields=["output_kw", "evse_id", "id"], name="evse_output_evse_id_idx"),
            models.Index(
                fields=["power_type", "evse_id", "id"], name="evse_power_type_evse_id_idx"
            ),
            models.Index(fields=["status"], name="evse_status_idx"),
        ]

    def __str__(self):
        return self.evse_id

    def save(self, *args, **kwargs):
        self.evse_id = normalize_evse_id(self.evse_id)
        super().save(*args, **kwargs)

    @property
    def owner(self):
        return self.location.owner


class Connector(models.Model):
    """An OCPI connector; the EVSE's output and power type are derived from its connectors."""

    evse = models.ForeignKey(EVSE, on_delete=models.CASCADE, related_name="connectors")
    connector_id = models.CharField(max_length=36)
    standard = models.CharField(max_length=40)
    format = models.CharField(max_length=10)
    power_type = models.CharField(max_length=16, choices=PowerType.choices)
    max_voltage = models.PositiveIntegerField()
    max_amperage = models.PositiveIntegerField()
    max_electric_power = models.PositiveIntegerField(null=True, blank=True, help_text="Watts.")
    last_updated = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["evse", "connector_id"], name="connector_unique_per_evse"
            )
        ]

    def __str__(self):
        return f"{self.evse_id} #{self.connector_id}"
