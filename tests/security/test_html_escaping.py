"""Every externally supplied string is shown escaped (issue 7.4): a location, its address and
city from an OCPI peer, a CDR's raw JSON, Sub-CPO and payout account names typed by staff."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from evse_payout.models import CDR, EVSE, Invoice, Location
from evse_payout.services.assignments import assign_evses
from evse_payout.services.invoicing import run_invoicing
from tests.factories import PayoutAccountFactory, SubCPOFactory, ocpi_cdr_payload

from .conftest import fixture_json, token_header

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'
RAW = [SCRIPT.encode(), b"<img src=x onerror"]
ESCAPED = [b"&lt;script&gt;alert(1)&lt;/script&gt;", b"&quot;&gt;&lt;img src=x onerror"]


@pytest.fixture
def hostile(client, ocpi_secret, superuser):
    """A location put by a peer with markup in every text field, an EVSE of it assigned to an
    account whose name and holder carry markup, a CDR with markup, and a draft statement."""
    authorization = {"Authorization": token_header(ocpi_secret)}
    location = fixture_json("location_example.json") | {
        "name": SCRIPT, "address": ATTRIBUTE[:45], "city": SCRIPT, "postal_code": "<b>9000",
    }  # fmt: skip
    response = client.put("/ocpi/2.2.1/locations/BE/BEC/LOC1", json.dumps(location),
                          content_type="application/json", headers=authorization)  # fmt: skip
    assert response.status_code == 200, response.content
    owner = SubCPOFactory(name=SCRIPT)
    Location.objects.update(owner=owner)
    account = PayoutAccountFactory(name=ATTRIBUTE, holder=owner, account_holder_name=SCRIPT)
    assigned, unassigned = EVSE.objects.order_by("uid")
    assign_evses(evses=EVSE.objects.filter(pk=assigned.pk), account_id=account.pk, actor=superuser)
    cdr = ocpi_cdr_payload(id="CDR-XSS", remark=SCRIPT)
    cdr["cdr_location"] |= {
        "evse_uid": assigned.uid, "evse_id": assigned.evse_id, "name": SCRIPT, "city": SCRIPT,
        "address": ATTRIBUTE[:45],
    }  # fmt: skip
    response = client.post("/ocpi/2.2.1/cdrs", json.dumps(cdr), content_type="application/json",
                           headers=authorization)  # fmt: skip
    assert response.status_code == 200, response.content
    assert CDR.objects.get().status == "rated"
    run_invoicing(cutoff=timezone.now().date(), actor=superuser)
    client.force_login(superuser)
    return {
        "client": client,
        "account": account,
        "assigned": assigned,
        "unassigned": unassigned,
        "cdr": CDR.objects.get(),
        "invoice": Invoice.objects.get(),
    }


def _pages(h) -> dict[str, str]:
    def url(name, *args, **query):
        address = reverse(f"evse_payout:{name}", args=args)
        return address + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")

    return {
        "home": url("home"),
        "unassigned table": url("evses_unassigned"),
        "assigned tab": url("evses_assigned", account=h["account"].pk),
        "EVSE page (assigned)": url("evse_detail", h["assigned"].pk),
        "EVSE page (unassigned)": url("evse_detail", h["unassigned"].pk),
        "CDR overview": url("cdr_list"),
        "CDR page": url("cdr_detail", h["cdr"].pk),
        "payout accounts": url("account_list"),
        "payout account page": url("account_edit", h["account"].pk),
        "invoice run page": url("invoice_run_detail", h["invoice"].run_id),
        "statement page": url("invoice_detail", h["invoice"].pk),
    }


# Pages whose content does not include any of the hostile strings (counts only).
SHOWS_NOTHING_EXTERNAL = {"home"}


def test_every_page_shows_external_text_escaped(hostile):
    client = hostile["client"]
    problems = []
    for page, url in _pages(hostile).items():
        response = client.get(url)
        content = response.content
        if response.status_code != 200:
            problems.append((page, response.status_code))
        if any(raw in content for raw in RAW):
            problems.append((page, "raw markup"))
        if page not in SHOWS_NOTHING_EXTERNAL and not any(e in content for e in ESCAPED):
            problems.append((page, "hostile text not shown at all"))
    assert not problems


def test_the_bulk_action_pages_show_external_text_escaped(hostile):
    client = hostile["client"]
    pages = {
        "account picker": client.post(
            reverse("evse_payout:evses_assign"), {"evse": [hostile["unassigned"].pk]}
        ),
        "unassign confirmation": client.post(
            reverse("evse_payout:evses_unassign"),
            {"evse": [hostile["assigned"].pk], "account": hostile["account"].pk},
        ),
        "deactivate confirmation": client.get(
            reverse("evse_payout:account_deactivate", args=[hostile["account"].pk])
        ),
    }
    for page, response in pages.items():
        assert response.status_code == 200, page
        assert not any(raw in response.content for raw in RAW), page


def test_the_statement_csv_is_not_html(hostile):
    response = hostile["client"].get(
        reverse("evse_payout:invoice_csv", args=[hostile["invoice"].pk])
    )

    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
