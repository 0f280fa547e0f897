"""The charging network: Sub-CPOs, OCPI locations, EVSEs and their connectors."""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from ..validators import country_name, normalize_evse_id, validate_country_alpha3, validate_evse_id

# How the CPO reads wherever an owner or holder is shown (a Location without owner, an account
# without holder): tables, filters, pickers, messages and the admin all use this one label.
CPO_OWN_LABEL = "CPO (own)"


class SubCPO(models.Model):
    """An external client that owns EVSEs and is paid out for them."""

    name = models.CharField(max_length=200, unique=True)
    country = models.CharField(
        max_length=3,
        validators=[validate_country_alpha3],
        help_text="ISO 3166-1 alpha-3, e.g. BEL.",
    )
    vat_number = models.CharField("VAT number", max_length=32, blank=True)
    is_active = models.BooleanField("active", default=True)

    class Meta:
        verbose_name = "Sub-CPO"
        verbose_name_plural = "Sub-CPOs"
        ordering = ["name", "pk"]

    def __str__(self):
        return self.name


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
