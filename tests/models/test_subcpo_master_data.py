"""A Sub-CPO's self-billing master data: structured address, VAT status and number, agreement."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from evse_payout.models import SubCPO, VatStatus
from tests.factories import SubCPOFactory

pytestmark = pytest.mark.django_db


def test_vat_number_is_checked_offline_with_its_check_digits():
    SubCPOFactory.build(vat_number="BE0123456749").full_clean()
    with pytest.raises(ValidationError) as excinfo:
        SubCPOFactory.build(vat_number="BE0123456748").full_clean()
    assert "“BE0123456748” is not a valid EU VAT number" in str(excinfo.value)


def test_vat_number_is_stored_compact_and_upper_case():
    sub_cpo = SubCPOFactory(vat_number="be 0123.456.749")
    sub_cpo.refresh_from_db()
    assert sub_cpo.vat_number == "BE0123456749"


def test_vat_number_must_be_of_the_sub_cpos_country():
    with pytest.raises(ValidationError) as excinfo:
        SubCPOFactory.build(country="NLD", vat_number="BE0123456749").full_clean()
    assert "not of the Sub-CPO's country (NLD)" in str(excinfo.value)
    SubCPOFactory.build(country="NLD", vat_number="NL812345605B01").full_clean()


def test_registered_sub_cpo_without_vat_number_is_refused_by_the_form_and_the_database():
    with pytest.raises(ValidationError) as excinfo:
        SubCPOFactory.build(vat_status=VatStatus.REGISTERED, vat_number="").full_clean()
    assert "needs its VAT number" in str(excinfo.value)
    with (
        pytest.raises(IntegrityError, match="subcpo_registered_has_vat_number"),
        transaction.atomic(),
    ):
        SubCPOFactory(vat_status=VatStatus.REGISTERED, vat_number="")
    SubCPOFactory(vat_status=VatStatus.NOT_REGISTERED, vat_number="")


def test_agreement_cannot_end_before_it_was_signed():
    with (
        pytest.raises(IntegrityError, match="subcpo_agreement_valid_after_signed"),
        transaction.atomic(),
    ):
        SubCPOFactory(agreement_signed_on=date(2026, 3, 1), agreement_valid_until=date(2026, 2, 28))


def test_country_alpha2_is_derived_from_the_alpha3_country():
    assert SubCPOFactory.build(country="DEU").country_alpha2 == "DE"


def test_admin_edits_the_address_vat_and_agreement(admin_client):
    sub_cpo = SubCPOFactory(name="Hotel Zeezicht")
    response = admin_client.post(
        reverse("admin:evse_payout_subcpo_change", args=[sub_cpo.pk]),
        {
            "name": "Hotel Zeezicht",
            "is_active": "on",
            "street": "Zeedijk",
            "building_number": "101",
            "postal_code": "8400",
            "city": "Oostende",
            "country": "BEL",
            "vat_status": "exempt",
            "vat_number": "BE 0207.451.227",
            "agreement_reference": "SBA-2026-007",
            "agreement_signed_on": "2026-01-15",
            "agreement_valid_until": "2027-01-14",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    sub_cpo = SubCPO.objects.get(pk=sub_cpo.pk)
    assert (sub_cpo.street, sub_cpo.building_number, sub_cpo.postal_code, sub_cpo.city) == (
        "Zeedijk",
        "101",
        "8400",
        "Oostende",
    )
    assert (sub_cpo.vat_status, sub_cpo.vat_number) == ("exempt", "BE0207451227")
    assert sub_cpo.agreement_valid_until == date(2027, 1, 14)


def test_admin_names_an_invalid_vat_number_and_saves_nothing(admin_client):
    sub_cpo = SubCPOFactory(name="Hotel Zeezicht", vat_number="BE0123456749")
    response = admin_client.post(
        reverse("admin:evse_payout_subcpo_change", args=[sub_cpo.pk]),
        {
            "name": "Hotel Zeezicht",
            "country": "BEL",
            "vat_status": "registered",
            "vat_number": "BE1",
        },
    )
    assert response.status_code == 200
    assert "“BE1” is not a valid EU VAT number" in response.content.decode()
    assert SubCPO.objects.get(pk=sub_cpo.pk).vat_number == "BE0123456749"
