"""factory-boy factories for every model; money and energy as Decimal, times aware UTC."""

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from schwifty import IBAN

from evse_payout import models


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("secret-password")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.set(Group.objects.filter(name__in=extracted))


def belgian_vat_number(n: int) -> str:
    """A valid Belgian VAT number: 0 + 7 digits, then 97 minus their remainder mod 97."""
    base = 2_000_000 + n
    return f"BE0{base:07d}{97 - base % 97:02d}"


class SubCPOFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.SubCPO

    name = factory.Sequence(lambda n: f"Sub-CPO {n}")
    country = "BEL"
    street = "Kouter"
    building_number = factory.Sequence(lambda n: str(n + 1))
    postal_code = "9000"
    city = "Gent"
    vat_status = models.VatStatus.REGISTERED
    vat_number = factory.Sequence(belgian_vat_number)
    agreement_reference = factory.Sequence(lambda n: f"SBA-{n:04d}")
    agreement_signed_on = date(2025, 1, 1)


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Location

    country_code = "BE"
    party_id = "BEC"
    location_id = factory.Sequence(lambda n: f"LOC{n}")
    name = factory.Sequence(lambda n: f"Site {n}")
    address = factory.Sequence(lambda n: f"Stationsstraat {n}")
    postal_code = "9000"
    city = "Gent"
    country = "BEL"
    time_zone = "Europe/Brussels"
    owner = None


class EVSEFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.EVSE

    country_code = factory.SelfAttribute("location.country_code")
    party_id = factory.SelfAttribute("location.party_id")
    uid = factory.Sequence(lambda n: f"UID{n}")
    evse_id = factory.Sequence(lambda n: f"BE*BEC*E{n:08d}")
    location = factory.SubFactory(LocationFactory)
    power_type = models.PowerType.AC_3_PHASE
    output_kw = Decimal("22.00")
    status = models.EVSEStatus.AVAILABLE


class ConnectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Connector

    evse = factory.SubFactory(EVSEFactory)
    connector_id = factory.Sequence(lambda n: str(n))
    standard = "IEC_62196_T2"
    format = "SOCKET"
    power_type = models.PowerType.AC_3_PHASE
    max_voltage = 230
    max_amperage = 32
    max_electric_power = 22000


class PayoutAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.PayoutAccount

    name = factory.Sequence(lambda n: f"Payout account {n}")
    holder = None
    account_holder_name = factory.LazyAttribute(
        lambda o: o.holder.name if o.holder else "Demo CPO NV"
    )
    iban = factory.Sequence(
        lambda n: str(IBAN.generate("BE", bank_code="539", account_code=f"{n:07d}"))
    )
    bic = "GKCCBEBB"
    currency = "EUR"
    commission_percent = Decimal("10.00")
    fee_per_kwh = Decimal("0.0200")
    fee_per_session = Decimal("0.25")
    is_active = True


class AssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Assignment

    evse = factory.SubFactory(EVSEFactory)
    payout_account = factory.SubFactory(PayoutAccountFactory)
    assigned_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))


def ocpi_cdr_payload(**overrides) -> dict:
    """A minimal valid OCPI 2.2.1 CDR object; `overrides` replace top-level keys."""
    start = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    payload = {
        "country_code": "BE",
        "party_id": "BEC",
        "id": "CDR0001",
        "start_date_time": start.isoformat().replace("+00:00", "Z"),
        "end_date_time": (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "cdr_token": {"country_code": "BE", "party_id": "BEC", "uid": "012345678", "type": "RFID",
                      "contract_id": "BE-BEC-C12345678-X"},
        "auth_method": "WHITELIST",
        "cdr_location": {
            "id": "LOC1", "address": "F.Rooseveltlaan 3A", "city": "Gent", "postal_code": "9000",
            "country": "BEL", "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
            "evse_uid": "3256", "evse_id": "BE*BEC*E041503003", "connector_id": "1",
            "connector_standard": "IEC_62196_T2", "connector_format": "SOCKET",
            "connector_power_type": "AC_3_PHASE",
        },
        "currency": "EUR",
        "charging_periods": [{"start_date_time": start.isoformat().replace("+00:00", "Z"),
                              "dimensions": [{"type": "ENERGY", "volume": 15.342}]}],
        "total_cost": {"excl_vat": 10.00, "incl_vat": 12.10},
        "total_energy": 15.342,
        "total_time": 1.0,
        "last_updated": (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    payload.update(overrides)
    return payload


def _term(cdr, name):
    if cdr.payout_account is None or cdr.fee is None:
        return None
    return getattr(cdr.payout_account, name)


class CDRFactory(factory.django.DjangoModelFactory):
    """A CDR as stored after intake; status `new` until rated."""

    class Meta:
        model = models.CDR

    country_code = "BE"
    party_id = "BEC"
    cdr_id = factory.Sequence(lambda n: f"CDR{n:08d}")
    evse = factory.SubFactory(EVSEFactory)
    location = factory.LazyAttribute(lambda o: o.evse.location if o.evse else None)
    location_ocpi_id = factory.LazyAttribute(
        lambda o: o.evse.location.location_id if o.evse else "LOC?"
    )
    evse_uid = factory.LazyAttribute(lambda o: o.evse.uid if o.evse else "UNKNOWN")
    evse_id_raw = factory.LazyAttribute(lambda o: o.evse.evse_id if o.evse else "BE*BEC*E99999999")
    start_date_time = factory.LazyFunction(lambda: timezone.now() - timedelta(days=2, hours=2))
    end_date_time = factory.LazyAttribute(lambda o: o.start_date_time + timedelta(hours=1))
    currency = "EUR"
    total_energy = Decimal("20.0000")
    total_time = Decimal("1.0000")
    total_cost_excl_vat = Decimal("10.0000")
    total_cost_incl_vat = Decimal("12.1000")
    credit = False
    last_updated = factory.LazyAttribute(lambda o: o.end_date_time)
    raw = factory.LazyAttribute(
        lambda o: ocpi_cdr_payload(
            id=o.cdr_id, currency=o.currency, total_energy=str(o.total_energy)
        )
    )
    content_hash = factory.LazyAttribute(
        lambda o: hashlib.sha256(json.dumps(o.raw, sort_keys=True).encode()).hexdigest()
    )
    received_at = factory.LazyFunction(timezone.now)
    status = models.CDRStatus.NEW
    payout_account = None
    fee = None
    # A CDR built as rated carries the terms its account has now, as rating would store them.
    terms_commission_percent = factory.LazyAttribute(lambda o: _term(o, "commission_percent"))
    terms_fee_per_kwh = factory.LazyAttribute(lambda o: _term(o, "fee_per_kwh"))
    terms_fee_per_session = factory.LazyAttribute(lambda o: _term(o, "fee_per_session"))
    terms_currency = factory.LazyAttribute(lambda o: _term(o, "currency") or "")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """`status=INVOICED, invoice=statement` builds a rated CDR with its statement line."""
        invoice = kwargs.pop("invoice", None)
        if kwargs.get("status") == models.CDRStatus.INVOICED:
            kwargs["status"] = models.CDRStatus.RATED
        cdr = super()._create(model_class, *args, **kwargs)
        if invoice is not None:
            models.StatementLine.objects.create(cdr=cdr, invoice=invoice)
            cdr.refresh_from_db()
        return cdr


class PartnerAccountFactory(PayoutAccountFactory):
    """A Sub-CPO's payout account: paid out with numbered self-billing statements."""

    holder = factory.SubFactory(SubCPOFactory)


class PartnerAssignmentFactory(AssignmentFactory):
    payout_account = factory.SubFactory(PartnerAccountFactory)
