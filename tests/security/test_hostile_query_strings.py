"""No 500 on any page with any query string (issue 11 §6): the URL walk of test_access_control,
with hostile values in every filter field, page number, page size and sort of every list page."""

import lxml.html
import pytest
from django.test import Client

from tests.factories import CDRFactory, PayoutAccountFactory

from .test_access_control import World, every_url

pytestmark = pytest.mark.django_db

HOSTILE_VALUES = [
    "\x00",
    "9223372036854775807",
    "99999999999999999999999999",
    "-1",
    "1e999",
    "NaN",
    "2026-99-99",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "%",
    "\u202e\ud7ff",
]
PAGING = {"page", "per_page", "sort", "o", "p", "q", "all"}


def get_form_fields(response) -> set[str]:
    """The names of the fields of the page's GET forms (its filters)."""
    tree = lxml.html.fromstring(response.content)
    names = set()
    for form in tree.forms:
        if (form.method or "GET").upper() == "GET":
            names |= {name for name in form.fields if name}
    return names


def list_pages(client, world):
    for name, url in every_url(world):
        if url.startswith("/ocpi/") or "?" in url:
            continue
        response = client.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            yield name, url, get_form_fields(response) | PAGING


def test_no_list_page_answers_500_to_hostile_query_strings(superuser):
    world = World()
    CDRFactory.create_batch(3, evse=world.assigned)
    PayoutAccountFactory.create_batch(2)
    client = Client(raise_request_exception=False)
    client.force_login(superuser)
    problems, tried = [], 0
    for name, url, fields in list_pages(client, world):
        for value in HOSTILE_VALUES:
            query = {field: value for field in fields}
            response = client.get(url, query)
            tried += 1
            if response.status_code not in (200, 302, 400, 403, 404):
                problems.append((name, url, repr(value), response.status_code))
        for value in ("9223372036854775807", "-1", "abc"):
            # Alone, so no invalid filter hides the rows the page number reaches.
            single = client.get(url, {"page": value})
            tried += 1
            if single.status_code >= 500:
                problems.append((name, url, "page", value, single.status_code))
    assert tried > 500
    assert not problems


@pytest.mark.parametrize(
    "url",
    [
        "/cdrs/?page=9223372036854775807",
        "/admin/evse_payout/payoutaccount/add/",
        "/admin/evse_payout/evse/add/",
        "/admin/evse_payout/cdr/?status__exact=%00",
    ],
)
def test_the_500_urls_of_the_hostile_test_answer(superuser, url):
    client = Client(raise_request_exception=False)
    client.force_login(superuser)

    assert client.get(url).status_code in (200, 302, 400, 404)


def test_an_out_of_range_page_shows_the_last_page(superuser):
    CDRFactory.create_batch(3)
    client = Client()
    client.force_login(superuser)

    response = client.get("/cdrs/", {"page": "9223372036854775807"})

    assert response.status_code == 200
    assert response.context["table"].page.number == 1
    assert len(response.context["table"].page.object_list) == 3


def test_nul_in_an_admin_filter_is_400(superuser):
    client = Client()
    client.force_login(superuser)

    response = client.get("/admin/evse_payout/cdr/", {"status__exact": "\x00"})

    assert response.status_code == 400
    assert b"NUL character" in response.content
