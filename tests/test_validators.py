"""eMI3 EVSE IDs and ISO country codes, validated the way the models validate them."""

import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from evse_payout.models import EVSE
from evse_payout.validators import (
    evse_operator_prefix,
    normalize_evse_id,
    validate_country_alpha3,
    validate_evse_id,
)
from tests.factories import EVSEFactory, LocationFactory, SubCPOFactory

FIXTURES = Path(__file__).parent / "fixtures"


def evse_ids_in(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "evse_id" and isinstance(item, str):
                yield item
            else:
                yield from evse_ids_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from evse_ids_in(item)


OCPI_EXAMPLE_IDS = sorted(
    {
        evse_id
        for path in FIXTURES.glob("*.json")
        for evse_id in evse_ids_in(json.loads(path.read_text()))
    }
)

VALID = [
    "BE*BEC*E041503003",
    "BE*BEC*E041503001",
    "BEBECE041503003",
    "BE*BEC*E1",
    "NL*ALF*E000000001",
    "DE*ALL*E12AB*34*5",
    "FR*A1B*E" + "9" * 30,
    "+32*810*000*438",
    "32*810*000*438",
    "be*bec*e041503003",
    " BE*BEC*E041503003 ",
]

INVALID = [
    "",
    "BE*BEC*041503003",  # no E before the power outlet id
    "BE*BEC*E",  # empty power outlet id
    "B*BEC*E041503003",  # one-letter country
    "BE*BE*E041503003",  # two-character operator
    "BE-BEC-E041503003",  # dashes are not eMI3 separators
    "BE*BEC*E0415 03003",  # space inside
    "FR*A1B*E" + "9" * 31,  # power outlet id longer than 30
    "1234*810*000*438",  # four-digit country calling code
    "+32*81*000*438",  # two-digit operator
    "BE*BEC*E041503003#",
]


def test_the_ocpi_examples_carry_evse_ids():
    assert {"BE*BEC*E041503001", "BE*BEC*E041503003"} <= set(OCPI_EXAMPLE_IDS)


@pytest.mark.parametrize("evse_id", VALID + OCPI_EXAMPLE_IDS)
def test_valid_evse_id_passes(evse_id):
    validate_evse_id(evse_id)


@pytest.mark.parametrize("evse_id", INVALID)
def test_invalid_evse_id_is_refused_with_a_message(evse_id):
    with pytest.raises(ValidationError) as excinfo:
        validate_evse_id(evse_id)
    assert excinfo.value.code == "invalid_evse_id"
    assert "is not a valid eMI3 EVSE ID" in excinfo.value.messages[0]


def test_normalizing_upper_cases_and_strips():
    assert normalize_evse_id(" be*bec*e041503003\n") == "BE*BEC*E041503003"


@pytest.mark.django_db
def test_evse_id_is_stored_upper_case():
    evse = EVSEFactory(evse_id="be*bec*e041503003")
    assert EVSE.objects.get(pk=evse.pk).evse_id == "BE*BEC*E041503003"


@pytest.mark.django_db
def test_evse_full_clean_names_the_evse_id_field():
    evse = EVSEFactory.build(location=LocationFactory(), evse_id="BE-BEC-E1")
    with pytest.raises(ValidationError) as excinfo:
        evse.full_clean()
    assert list(excinfo.value.message_dict) == ["evse_id"]


@pytest.mark.parametrize(
    ("evse_id", "prefix"),
    [
        ("BE*BEC*E041503003", "BEBEC"),
        ("bebece041503003", "BEBEC"),
        ("NL*ALF*E000000001", "NLALF"),
        ("+32*810*000*438", "32*810"),
    ],
)
def test_operator_prefix(evse_id, prefix):
    assert evse_operator_prefix(evse_id) == prefix


@pytest.mark.parametrize("country", ["BEL", "NLD", "DEU", "FRA", "AUT", "LUX"])
def test_iso_3166_alpha3_country_passes(country):
    validate_country_alpha3(country)


@pytest.mark.django_db
@pytest.mark.parametrize("country", ["BE", "BELG", "XXX", "bel", ""])
def test_unknown_country_is_refused_by_full_clean(country):
    with pytest.raises(ValidationError) as excinfo:
        SubCPOFactory.build(country=country).full_clean()
    assert "country" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        LocationFactory.build(country=country).full_clean()
    assert "country" in excinfo.value.message_dict
