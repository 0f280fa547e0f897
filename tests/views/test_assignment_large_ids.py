"""Ids and counts the assignment flow carries in hidden fields and links are never localised.

With USE_THOUSAND_SEPARATOR, `{{ 1234 }}` prints "1,234", which the next step cannot read back;
at 100,000 EVSEs almost every id is that large.
"""

import pytest
from django.urls import reverse

from evse_payout.models import Assignment

from ..factories import AssignmentFactory, EVSEFactory, LocationFactory, PayoutAccountFactory

pytestmark = pytest.mark.django_db

ASSIGN = reverse("evse_payout:evses_assign")


def test_checked_evses_with_large_ids_are_assigned(manager_client):
    account = PayoutAccountFactory(pk=4321, name="Own main", holder=None)
    charger = EVSEFactory(pk=12345, location=LocationFactory(owner=None))
    selection = {"evse": [charger.pk], "filters": ""}

    picker = manager_client.post(ASSIGN, selection).content.decode()
    assert 'name="evse" value="12345"' in picker

    confirmation = manager_client.post(ASSIGN, selection | {"account": account.pk})
    content = confirmation.content.decode()
    assert 'name="evse" value="12345"' in content
    assert 'name="account" value="4321"' in content

    manager_client.post(ASSIGN, selection | {"account": account.pk, "confirm": "1"})
    assert Assignment.objects.open().get().evse == charger


def test_select_all_carries_a_large_expected_count_unlocalised(manager_client):
    PayoutAccountFactory(name="Own main", holder=None)
    site = LocationFactory(owner=None)
    EVSEFactory.create_batch(1001, location=site)

    picker = manager_client.post(ASSIGN, {"select_across": "1", "filters": ""}).content.decode()

    assert 'name="expected_count" value="1001"' in picker


def test_account_tabs_link_large_account_ids_unlocalised(viewer_client):
    account = PayoutAccountFactory(pk=4321)
    AssignmentFactory(payout_account=account)

    content = viewer_client.get(reverse("evse_payout:evses_assigned")).content.decode()

    assert 'href="?account=4321"' in content
    assert 'name="account" value="4321"' in content
