"""Set-based writes and batch lookups (services/bulk_sql.py) on both databases."""

import pytest
from django.db import IntegrityError, transaction

from evse_payout.models import EVSE, Location
from evse_payout.services.bulk_sql import insert_numbered, model_columns
from tests.factories import EVSEFactory, LocationFactory

pytestmark = pytest.mark.django_db


def _insert_locations(locations):
    columns = model_columns(Location)
    return insert_numbered(
        Location,
        [(column, sql_type) for column, sql_type, _ in columns],
        [[getattr(location, attname) for _, _, attname in columns] for location in locations],
    )


def test_insert_numbered_returns_each_new_rows_key_in_the_order_of_the_rows():
    LocationFactory()  # keys do not start at 1
    names = ["Zulu", "Alpha", "Mike", "Bravo"]
    locations = [LocationFactory.build(location_id=f"LOC-{name}", name=name) for name in names]

    pks = _insert_locations(locations)

    assert [Location.objects.get(pk=pk).name for pk in pks] == names


def test_insert_numbered_refusal_is_an_integrity_error_and_inserts_nothing():
    stored = LocationFactory()
    twin = LocationFactory.build(
        country_code=stored.country_code, party_id=stored.party_id, location_id=stored.location_id
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        _insert_locations([LocationFactory.build(location_id="NEW"), twin])
    assert list(Location.objects.values_list("pk", flat=True)) == [stored.pk]


def test_any_lookup_finds_the_rows_holding_one_of_the_values():
    first, second, _other = EVSEFactory(), EVSEFactory(), EVSEFactory()

    by_uid = EVSE.objects.filter(uid__any={first.uid, second.uid, "unknown"})
    by_location = EVSE.objects.filter(location_id__any=[first.location_id])

    assert sorted(by_uid.values_list("pk", flat=True)) == [first.pk, second.pk]
    assert list(by_location.values_list("pk", flat=True)) == [first.pk]
    assert not EVSE.objects.filter(pk__any=[]).exists()


def test_any_joined_lookup_finds_the_same_rows_as_any():
    first, second, _other = EVSEFactory(), EVSEFactory(), EVSEFactory()

    by_uid = EVSE.objects.filter(uid__any_joined={first.uid, second.uid, "unknown"})
    by_location = EVSE.objects.filter(location_id__any_joined=[first.location_id])

    assert sorted(by_uid.values_list("pk", flat=True)) == [first.pk, second.pk]
    assert list(by_location.values_list("pk", flat=True)) == [first.pk]
    assert not EVSE.objects.filter(pk__any_joined=[]).exists()


def test_any_joined_lookup_compares_whole_values_longer_than_the_column():
    evse = EVSEFactory(uid="U" * 36)

    assert not EVSE.objects.filter(uid__any_joined=[evse.uid + "X"]).exists()
