"""One way to show things (issue 15): dates, the time zone, the product's name on the login page."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from evse_payout.models import InvoiceRun
from tests.factories import AssignmentFactory

pytestmark = pytest.mark.django_db


def test_run_list_shows_an_iso_like_local_time_and_names_the_zone(finance_client, settings):
    settings.TIME_ZONE = "Europe/Brussels"
    InvoiceRun.objects.create(
        cutoff=datetime(2026, 12, 1, tzinfo=UTC).date(),
        created_at=datetime(2026, 12, 1, 9, 11, tzinfo=UTC),
    )

    page = finance_client.get(reverse("evse_payout:invoice_run_list")).content.decode()

    assert "2026-12-01 10:11" in page  # 09:11 UTC is 10:11 in Brussels in December
    assert "12/01/2026" not in page and "a.m." not in page
    assert "Times are shown in Europe/Brussels time." in page


def test_evse_page_shows_the_assignment_time_in_the_same_format(viewer_client, settings):
    settings.TIME_ZONE = "Europe/Brussels"
    assignment = AssignmentFactory(assigned_at=datetime(2026, 12, 1, 9, 11, tzinfo=UTC))

    page = viewer_client.get(reverse("evse_payout:evse_detail", args=[assignment.evse_id]))

    assert "2026-12-01 10:11" in page.content.decode()


def test_the_admin_shows_the_same_format(client, superuser, settings):
    settings.TIME_ZONE = "Europe/Brussels"
    run = InvoiceRun.objects.create(
        cutoff=datetime(2026, 12, 1, tzinfo=UTC).date(),
        created_at=datetime(2026, 12, 1, 9, 11, tzinfo=UTC),
    )
    client.force_login(superuser)

    page = client.get(reverse("admin:evse_payout_invoicerun_change", args=[run.pk]))

    assert page.status_code == 200
    assert "2026-12-01" in page.content.decode()
    assert "Dec. 1, 2026" not in page.content.decode()


def test_login_page_names_the_product_in_its_h1_and_title(client, db):
    page = client.get(reverse("login")).content.decode()

    assert "<h1>Log in to the EVSE payout back office</h1>" in page
    assert "<title>Log in | EVSE payout back office</title>" in page
    assert "Django administration" not in page
