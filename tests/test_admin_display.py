"""The admin shows things as the pages do (issue 15): amounts, IBANs, countries, status labels."""

from decimal import Decimal

import pytest
from django.urls import reverse

from evse_payout.models import EVSEStatus
from tests.factories import CDRFactory, EVSEFactory, LocationFactory, PayoutAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_cdr_list_shows_amounts_with_their_currency(admin_client):
    CDRFactory(total_cost_excl_vat=Decimal("1050.0400"))

    page = admin_client.get(reverse("admin:evse_payout_cdr_changelist")).content.decode()

    assert "1,050.04 EUR" in page and "1050.0400" not in page


def test_payout_account_list_groups_the_iban(admin_client):
    PayoutAccountFactory(iban="BE68539007547034")

    page = admin_client.get(reverse("admin:evse_payout_payoutaccount_changelist"))

    assert "BE68 5390 0754 7034" in page.content.decode()


def test_country_filters_offer_country_names(admin_client):
    LocationFactory(country="AUT")
    LocationFactory(country="BEL")

    page = admin_client.get(reverse("admin:evse_payout_location_changelist")).content.decode()

    assert '?country=AUT">Austria</a>' in page and '?country=BEL">Belgium</a>' in page


def test_evse_status_reads_out_of_order(admin_client):
    EVSEFactory(status=EVSEStatus.OUTOFORDER)

    page = admin_client.get(reverse("admin:evse_payout_evse_changelist")).content.decode()

    assert "Out of order" in page and "Outoforder" not in page
