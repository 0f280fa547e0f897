"""The "Payout EVSE assignment" pages through the Django test client and the real database."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from evse_payout.models import Assignment, AuditEvent, CDRReason, CDRStatus, EVSEStatus, PowerType
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
    SubCPOFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

UNASSIGNED = reverse("evse_payout:evses_unassigned")
ASSIGNED = reverse("evse_payout:evses_assigned")
ASSIGN = reverse("evse_payout:evses_assign")
UNASSIGN = reverse("evse_payout:evses_unassign")


def rows(response):
    """The EVSE IDs of the table rows, in order."""
    return [record.evse_id for record in response.context["table"].page.object_list.data]


def message_texts(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def evse(evse_id, **location):
    return EVSEFactory(evse_id=evse_id, location=LocationFactory(**location))


# --- the unassigned table ---------------------------------------------------------------------


def test_unassigned_table_lists_unassigned_evses_by_evse_id(viewer_client):
    evse("BE*BEC*E0003")
    evse("BE*BEC*E0001")
    AssignmentFactory(evse=evse("BE*BEC*E0002"))
    EVSEFactory(evse_id="BE*BEC*E0004", status=EVSEStatus.REMOVED)

    response = viewer_client.get(UNASSIGNED)

    assert response.status_code == 200
    assert rows(response) == ["BE*BEC*E0001", "BE*BEC*E0003"]
    assert response.context["total"] == 2


def test_closed_assignment_puts_the_evse_back_in_the_unassigned_table(viewer_client):
    closed = AssignmentFactory(evse=evse("BE*BEC*E0001"))
    closed.unassigned_at = timezone.now()
    closed.unassign_reason = "manual"
    closed.save()

    assert rows(viewer_client.get(UNASSIGNED)) == ["BE*BEC*E0001"]


def test_unassigned_table_shows_columns_of_the_design(viewer_client):
    owner = SubCPOFactory(name="Hotel Chain NV")
    charger = EVSEFactory(
        evse_id="BE*BEC*E0001",
        output_kw=Decimal("1150.00"),
        power_type=PowerType.DC,
        location=LocationFactory(
            owner=owner, address="Kouter 1", postal_code="9000", city="Gent", country="NLD"
        ),
    )
    evse("BE*BEC*E0002")

    content = viewer_client.get(UNASSIGNED).content.decode()

    for header in ("EVSE ID", "Sub-CPO", "Output", "Power type", "Address", "Postal code"):
        assert f">{header}" in content
    for cell in ("Hotel Chain NV", "CPO (own)", "1,150.00 kW", "DC", "Kouter 1", "Netherlands"):
        assert cell in content
    assert f'href="{reverse("evse_payout:evse_detail", args=[charger.pk])}"' in content


def test_unassigned_table_counts_the_cdrs_that_cannot_be_invoiced(viewer_client):
    charger = evse("BE*BEC*E0001")
    for amount in ("10.0000", "2.5000"):
        CDRFactory(
            evse=charger,
            status=CDRStatus.NOT_INVOICEABLE,
            reason=CDRReason.EVSE_UNASSIGNED,
            total_cost_excl_vat=Decimal(amount),
        )
    CDRFactory(evse=charger, status=CDRStatus.NOT_INVOICEABLE, reason=CDRReason.FAILED_VALIDATION)
    CDRFactory(evse=charger)

    response = viewer_client.get(UNASSIGNED)

    (record,) = response.context["table"].page.object_list.data
    assert record.unassigned_cdr_count == 2
    assert record.unassigned_cdr_amount == Decimal("12.5")
    assert "12.50 EUR" in response.content.decode()


# --- filters ----------------------------------------------------------------------------------


@pytest.fixture
def network():
    hotel = SubCPOFactory(name="Hotel")
    city = SubCPOFactory(name="City")
    EVSEFactory(
        evse_id="BE*BEC*E1001",
        output_kw=Decimal("11"),
        power_type=PowerType.AC_3_PHASE,
        location=LocationFactory(owner=hotel, city="Gent", postal_code="9000", country="BEL"),
    )
    EVSEFactory(
        evse_id="BE*BEC*E1002",
        output_kw=Decimal("50"),
        power_type=PowerType.DC,
        location=LocationFactory(owner=hotel, city="Gentbrugge", postal_code="9050", country="BEL"),
    )
    EVSEFactory(
        evse_id="NL*ABC*E2001",
        output_kw=Decimal("150"),
        power_type=PowerType.DC,
        location=LocationFactory(owner=city, city="Utrecht", postal_code="3511", country="NLD"),
    )
    EVSEFactory(
        evse_id="BE*BEC*E3001",
        output_kw=Decimal("3.7"),
        power_type=PowerType.AC_1_PHASE,
        location=LocationFactory(owner=None, city="Brussel", postal_code="1000", country="BEL"),
    )
    return {"hotel": hotel, "city": city}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"evse_id": "e100"}, ["BE*BEC*E1001", "BE*BEC*E1002"]),
        ({"evse_id": "be*bec*e1001, NL*ABC*E2001\nBE*BEC*E9999"}, ["BE*BEC*E1001", "NL*ABC*E2001"]),
        ({"evse_id": "BE*BEC*E1001 BE*BEC*E3001"}, ["BE*BEC*E1001", "BE*BEC*E3001"]),
        ({"sub_cpo": "own"}, ["BE*BEC*E3001"]),
        ({"output_min": "11", "output_max": "50"}, ["BE*BEC*E1001", "BE*BEC*E1002"]),
        ({"output_min": "100"}, ["NL*ABC*E2001"]),
        ({"power_type": ["DC", "AC_1_PHASE"]}, ["BE*BEC*E1002", "BE*BEC*E3001", "NL*ABC*E2001"]),
        ({"country": "NLD"}, ["NL*ABC*E2001"]),
        ({"city": "gent"}, ["BE*BEC*E1001", "BE*BEC*E1002"]),
        ({"postal_code": "90"}, ["BE*BEC*E1001", "BE*BEC*E1002"]),
        ({"city": "gent", "power_type": "DC"}, ["BE*BEC*E1002"]),
        ({"postal_code": "9", "output_max": "20", "country": "BEL"}, ["BE*BEC*E1001"]),
    ],
)
def test_each_filter_narrows_the_table_and_they_combine(viewer_client, network, query, expected):
    response = viewer_client.get(UNASSIGNED, query)

    assert response.status_code == 200
    assert rows(response) == expected
    assert response.context["total"] == len(expected)


def test_sub_cpo_filter_offers_the_sub_cpos_and_keeps_their_evses(viewer_client, network):
    response = viewer_client.get(UNASSIGNED, {"sub_cpo": network["hotel"].pk})

    assert rows(response) == ["BE*BEC*E1001", "BE*BEC*E1002"]
    content = response.content.decode()
    assert "CPO (own)" in content
    assert '<label for="id_sub_cpo">Sub-CPO:</label>' in content


def test_country_filter_offers_the_countries_present_by_name(viewer_client, network):
    choices = dict(
        viewer_client.get(UNASSIGNED).context["filterset"].form.fields["country"].choices
    )

    assert choices == {"": "All", "BEL": "Belgium", "NLD": "Netherlands"}


@pytest.mark.parametrize(
    "query",
    [
        {"output_min": "lots"},
        {"power_type": "STEAM"},
        {"sub_cpo": "999999"},
        {"country": "XXX"},
        {"sort": "nonsense", "page": "abc", "per_page": "1000000"},
    ],
)
def test_invalid_filter_input_shows_an_error_not_a_500(viewer_client, network, query):
    response = viewer_client.get(UNASSIGNED, query)

    assert response.status_code == 200
    if "sort" not in query:
        assert response.context["filters_valid"] is False
        assert rows(response) == []
        assert "errorlist" in response.content.decode()
        assert "Correct the filters above to see EVSEs." in response.content.decode()


def test_filters_stay_in_the_sort_and_page_links(viewer_client, network):
    content = viewer_client.get(UNASSIGNED, {"city": "gent"}).content.decode()

    assert "?city=gent&amp;sort=-evse_id" in content
    assert "?city=gent&amp;per_page=50" in content


# --- sorting and pagination -------------------------------------------------------------------


def test_columns_sort_both_ways(viewer_client, network):
    assert rows(viewer_client.get(UNASSIGNED, {"sort": "-evse_id"}))[0] == "NL*ABC*E2001"
    assert rows(viewer_client.get(UNASSIGNED, {"sort": "output"})) == [
        "BE*BEC*E3001",
        "BE*BEC*E1001",
        "BE*BEC*E1002",
        "NL*ABC*E2001",
    ]
    assert rows(viewer_client.get(UNASSIGNED, {"sort": "-city"}))[0] == "NL*ABC*E2001"
    assert rows(viewer_client.get(UNASSIGNED, {"sort": "postal_code"}))[0] == "BE*BEC*E3001"
    assert rows(viewer_client.get(UNASSIGNED, {"sort": "-country"}))[0] == "NL*ABC*E2001"
    assert rows(viewer_client.get(UNASSIGNED, {"sort": "power_type"}))[0] == "BE*BEC*E3001"


def test_unindexed_columns_do_not_sort(viewer_client, network):
    table = viewer_client.get(UNASSIGNED).context["table"]

    orderable = {column.name for column in table.columns if column.orderable}
    assert orderable == {
        "evse_id",
        "sub_cpo",
        "output",
        "power_type",
        "postal_code",
        "city",
        "country",
    }
    assert rows(viewer_client.get(UNASSIGNED, {"sort": "address"}))[0] == "BE*BEC*E1001"


@pytest.mark.parametrize("sort", ["city", "-city", "output", "-power_type"])
def test_pages_never_repeat_or_skip_rows_with_equal_sort_keys(viewer_client, sort):
    location = LocationFactory(city="Gent")
    expected = {EVSEFactory(location=location).evse_id for _ in range(60)}

    seen = []
    for page in (1, 2, 3):
        seen += rows(viewer_client.get(UNASSIGNED, {"sort": sort, "page": page}))

    assert len(seen) == 60
    assert set(seen) == expected


def test_page_size_choice(viewer_client):
    EVSEFactory.create_batch(60)

    assert len(rows(viewer_client.get(UNASSIGNED))) == 25
    assert len(rows(viewer_client.get(UNASSIGNED, {"per_page": 50}))) == 50
    assert len(rows(viewer_client.get(UNASSIGNED, {"per_page": 100}))) == 60
    assert len(rows(viewer_client.get(UNASSIGNED, {"per_page": 7}))) == 25
    last = viewer_client.get(UNASSIGNED, {"per_page": 50, "page": 99})
    assert len(rows(last)) == 10


def _count_queries(client, url, query=None):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, query or {})
    assert response.status_code == 200
    return len(queries)


def test_unassigned_page_query_count_does_not_grow_with_rows(
    manager_client, django_assert_num_queries
):
    owner = SubCPOFactory()
    first = EVSEFactory(location=LocationFactory(owner=owner))
    CDRFactory(evse=first, status=CDRStatus.NOT_INVOICEABLE, reason=CDRReason.EVSE_UNASSIGNED)
    one_row = _count_queries(manager_client, UNASSIGNED)

    for _ in range(49):
        charger = EVSEFactory(location=LocationFactory(owner=SubCPOFactory()))
        CDRFactory(evse=charger, status=CDRStatus.NOT_INVOICEABLE, reason=CDRReason.EVSE_UNASSIGNED)
    with django_assert_num_queries(one_row):
        response = manager_client.get(UNASSIGNED, {"per_page": 50})
    assert len(rows(response)) == 50


def test_assigned_tab_query_count_does_not_grow_with_rows(
    manager_client, django_assert_num_queries
):
    account = PayoutAccountFactory()
    AssignmentFactory(payout_account=account, assigned_by=UserFactory())
    one_row = _count_queries(manager_client, ASSIGNED, {"account": account.pk})

    for _ in range(49):
        AssignmentFactory(payout_account=account, assigned_by=UserFactory())
    with django_assert_num_queries(one_row):
        response = manager_client.get(ASSIGNED, {"account": account.pk, "per_page": 50})
    assert len(rows(response)) == 50


def test_htmx_request_gets_only_the_listing(viewer_client, network):
    response = viewer_client.get(UNASSIGNED, {"city": "gent"}, headers={"HX-Request": "true"})

    content = response.content.decode()
    assert content.lstrip().startswith('<div id="listing">')
    assert "BE*BEC*E1001" in content
    assert "HX-Request" in response["Vary"]


# --- permissions ------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    response = client.get(UNASSIGNED)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_user_without_view_permission_gets_403(client):
    client.force_login(UserFactory())

    assert client.get(UNASSIGNED).status_code == 403
    assert client.get(ASSIGNED).status_code == 403


def test_viewer_sees_no_checkboxes_or_buttons(viewer_client, network):
    AssignmentFactory()
    for url in (UNASSIGNED, ASSIGNED):
        content = viewer_client.get(url).content.decode()
        assert 'type="checkbox" name="evse"' not in content
        assert "Assign EVSEs</button>" not in content
        assert "Unassign EVSEs</button>" not in content
        assert "select_across" not in content


def test_manager_sees_checkboxes_and_the_bulk_action(manager_client, network):
    content = manager_client.get(UNASSIGNED).content.decode()

    assert 'name="evse"' in content
    assert "Assign EVSEs</button>" in content
    assert "Select all 4 matching EVSEs" in content


def test_viewer_forged_posts_get_403(viewer_client, network):
    account = PayoutAccountFactory()
    charger = EVSEFactory(location=LocationFactory(owner=None))
    post = {"evse": [charger.pk], "account": account.pk, "confirm": "1"}

    assert viewer_client.post(ASSIGN, post).status_code == 403
    assert viewer_client.post(UNASSIGN, post).status_code == 403
    assert not Assignment.objects.exists()


def test_posts_need_a_csrf_token(manager, network):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)

    assert client.post(ASSIGN, {"evse": [1]}).status_code == 403


# --- the assign flow --------------------------------------------------------------------------


def test_assign_flow_picker_confirmation_and_success(manager_client, manager):
    owner = SubCPOFactory(name="Hotel")
    fitting = PayoutAccountFactory(name="Hotel main", holder=owner)
    PayoutAccountFactory(name="Hotel old", holder=owner, is_active=False)
    PayoutAccountFactory(name="Other", holder=SubCPOFactory())
    PayoutAccountFactory(name="CPO own", holder=None)
    chargers = [
        EVSEFactory(evse_id=f"BE*BEC*E{n}", location=LocationFactory(owner=owner, city="Gent"))
        for n in (1, 2)
    ]
    selection = {"evse": [c.pk for c in chargers], "filters": "city=gent&page=1"}

    picker = manager_client.post(ASSIGN, selection)
    assert picker.status_code == 200
    assert "Select a payout account" in picker.content.decode()
    assert list(picker.context["account_form"].fields["account"].queryset) == [fitting]

    confirmation = manager_client.post(ASSIGN, selection | {"account": fitting.pk})
    content = confirmation.content.decode()
    assert "Hotel main" in content
    assert "BE*BEC*E1" in content and "BE*BEC*E2" in content
    assert ">Confirm</button>" in content
    assert not Assignment.objects.exists()

    done = manager_client.post(ASSIGN, selection | {"account": fitting.pk, "confirm": "1"})
    assert done.status_code == 302
    assert done["Location"] == f"{UNASSIGNED}?city=gent&page=1"
    assert message_texts(done) == ["2 EVSEs assigned to Hotel main"]
    assert Assignment.objects.open().filter(payout_account=fitting).count() == 2
    assert AuditEvent.objects.get(action="assign").actor == manager


def test_picker_refuses_an_account_of_another_owner(manager_client):
    owner = SubCPOFactory()
    PayoutAccountFactory(holder=owner)
    stranger = PayoutAccountFactory(holder=SubCPOFactory())
    charger = EVSEFactory(location=LocationFactory(owner=owner))

    response = manager_client.post(ASSIGN, {"evse": [charger.pk], "account": stranger.pk})

    assert response.status_code == 200
    assert response.context["account_form"].errors
    assert not Assignment.objects.exists()


def test_mixed_owner_selection_is_refused_naming_the_owners(manager_client):
    first = EVSEFactory(location=LocationFactory(owner=SubCPOFactory(name="Hotel")))
    second = EVSEFactory(location=LocationFactory(owner=None))

    response = manager_client.post(ASSIGN, {"evse": [first.pk, second.pk]})

    assert response.status_code == 302
    (text,) = message_texts(response)
    assert "different owners" in text
    assert "Hotel" in text and "CPO (own)" in text


@pytest.fixture
def manager_and_finance_client(client, roles):
    client.force_login(UserFactory(username="both", groups=["Payout manager", "Finance"]))
    return client


def test_picker_links_to_create_payout_account_when_none_fits(manager_and_finance_client):
    charger = EVSEFactory(location=LocationFactory(owner=SubCPOFactory(name="Lonely")))

    response = manager_and_finance_client.post(ASSIGN, {"evse": [charger.pk]})

    assert "No active payout account belongs to Lonely" in response.content.decode()
    assert "Create payout account</a>" in response.content.decode()


def test_picker_without_the_finance_role_says_who_can_create_an_account(manager_client):
    charger = EVSEFactory(location=LocationFactory(owner=SubCPOFactory(name="Lonely")))

    content = manager_client.post(ASSIGN, {"evse": [charger.pk]}).content.decode()

    assert "A colleague with the Finance role can create one." in content
    assert "Create payout account</a>" not in content


def test_picker_offers_create_account_even_when_accounts_fit_and_preselects_the_only_one(
    manager_and_finance_client,
):
    hotel = SubCPOFactory(name="Hotel")
    account = PayoutAccountFactory(name="Hotel main", holder=hotel)
    charger = EVSEFactory(location=LocationFactory(owner=hotel))

    content = manager_and_finance_client.post(ASSIGN, {"evse": [charger.pk]}).content.decode()

    assert "None of these fits?" in content and "Create payout account</a>" in content
    assert f'name="account" value="{account.pk}" required id="id_account_0" checked>' in content


def test_create_account_mid_assign_returns_to_the_picker_with_the_selection(
    manager_and_finance_client,
):
    hotel = SubCPOFactory(name="Hotel", vat_number="BE0123456749")
    chargers = [EVSEFactory(location=LocationFactory(owner=hotel)) for _ in range(2)]
    picker = manager_and_finance_client.post(
        ASSIGN, {"evse": [c.pk for c in chargers], "filters": "city=Gent"}
    )
    create_url = picker.context["account_create_url"]
    form_page = manager_and_finance_client.get(create_url)
    next_url = form_page.context["next_url"]

    created = manager_and_finance_client.post(
        create_url,
        {
            "name": "Hotel payouts",
            "holder": hotel.pk,
            "account_holder_name": "Hotel NV",
            "iban": "BE68 5390 0754 7034",
            "currency": "EUR",
            "commission_percent": "10",
            "fee_per_kwh": "0",
            "fee_per_session": "0",
            "next": next_url,
        },
    )
    assert created.status_code == 302 and created.url == next_url
    back = manager_and_finance_client.get(created.url)

    content = back.content.decode()
    assert back.status_code == 200
    assert "2 EVSEs of <strong>Hotel</strong> selected" in content
    assert "Hotel payouts" in content and "checked" in content
    assert 'name="filters" value="city=Gent"' in content
    assert Assignment.objects.count() == 0  # coming back changes nothing


def test_tampered_selection_is_refused_with_a_message(manager_client):
    response = manager_client.post(ASSIGN, {"evse": ["1; DROP"], "filters": ""})

    assert response.status_code == 302
    assert "not valid" in message_texts(response)[0]


def test_empty_selection_says_what_to_do(manager_client):
    response = manager_client.post(ASSIGN, {"filters": "city=x"})

    assert response["Location"] == f"{UNASSIGNED}?city=x"
    assert "Tick the EVSEs first (or select all matching EVSEs)" in message_texts(response)[0]


def test_double_submitted_confirmation_creates_no_duplicates(manager_client):
    account = PayoutAccountFactory(name="Own")
    charger = EVSEFactory(evse_id="BE*BEC*E7", location=LocationFactory(owner=None))
    confirm = {"evse": [charger.pk], "account": account.pk, "confirm": "1"}

    manager_client.post(ASSIGN, confirm)
    again = manager_client.post(ASSIGN, confirm)

    assert Assignment.objects.filter(evse=charger).count() == 1
    text = message_texts(again)[-1]
    assert "BE*BEC*E7" in text and "Nothing was assigned" in text


def test_stale_selection_names_the_blocker_and_changes_nothing(manager_client):
    account = PayoutAccountFactory(name="Own")
    free, taken = (EVSEFactory(location=LocationFactory(owner=None)) for _ in range(2))
    AssignmentFactory(evse=taken, payout_account=PayoutAccountFactory(name="Elsewhere"))

    response = manager_client.post(
        ASSIGN, {"evse": [free.pk, taken.pk], "account": account.pk, "confirm": "1"}
    )

    (text,) = message_texts(response)
    assert taken.evse_id in text and "Elsewhere" in text
    assert not Assignment.objects.filter(evse=free).exists()


def test_deactivated_account_at_confirmation_is_refused(manager_client):
    account = PayoutAccountFactory(name="Closing", is_active=False)
    charger = EVSEFactory(location=LocationFactory(owner=None))

    response = manager_client.post(
        ASSIGN, {"evse": [charger.pk], "account": account.pk, "confirm": "1"}
    )

    assert "“Closing” is inactive" in message_texts(response)[0]
    assert not Assignment.objects.exists()


def test_select_all_matching_assigns_exactly_the_filtered_evses(manager_client, network):
    own_account = PayoutAccountFactory(name="Own", holder=None)
    extra = [
        EVSEFactory(location=LocationFactory(owner=None, city="Brussel")).pk for _ in range(30)
    ]
    EVSEFactory(location=LocationFactory(owner=None, city="Antwerpen"))
    selection = {"select_across": "1", "filters": "city=brussel&sort=-evse_id&page=2"}

    confirmation = manager_client.post(ASSIGN, selection | {"account": own_account.pk})
    assert confirmation.context["count"] == 31
    content = confirmation.content.decode()
    assert "and 1 more" not in content  # 31 fit in the sample of 50
    assert 'name="expected_count" value="31"' in content
    assert 'name="evse"' not in content

    done = manager_client.post(
        ASSIGN, selection | {"account": own_account.pk, "expected_count": "31", "confirm": "1"}
    )

    assert message_texts(done) == ["31 EVSEs assigned to Own"]
    assigned = set(
        Assignment.objects.open().filter(payout_account=own_account).values_list("evse", flat=True)
    )
    assert len(assigned) == 31
    assert set(extra) <= assigned


def test_select_all_matching_refuses_when_the_matching_set_changed(manager_client):
    account = PayoutAccountFactory(name="Own", holder=None)
    for _ in range(3):
        EVSEFactory(location=LocationFactory(owner=None, city="Gent"))

    response = manager_client.post(
        ASSIGN,
        {
            "select_across": "1",
            "filters": "city=gent",
            "account": account.pk,
            "expected_count": "2",
            "confirm": "1",
        },
    )

    assert "3 EVSEs match now instead of 2" in message_texts(response)[0]
    assert not Assignment.objects.exists()


def test_confirmation_lists_fifty_and_counts_the_rest(manager_client):
    account = PayoutAccountFactory(holder=None)
    for _ in range(53):
        EVSEFactory(location=LocationFactory(owner=None))

    response = manager_client.post(
        ASSIGN, {"select_across": "1", "filters": "", "account": account.pk}
    )

    assert len(response.context["sample"]) == 50
    assert "and 3 more" in response.content.decode()


# --- the assigned tables and unassign ---------------------------------------------------------


def test_assigned_page_has_one_tab_per_account_with_counts(viewer_client):
    busy = PayoutAccountFactory(name="Busy")
    PayoutAccountFactory(name="Empty")
    gone = PayoutAccountFactory(name="Gone")
    AssignmentFactory.create_batch(2, payout_account=busy)

    response = viewer_client.get(ASSIGNED)

    tabs = {tab.name: tab.open_count for tab in response.context["tabs"]}
    assert tabs == {"Busy": 2, "Empty": 0, "Gone": 0}
    gone.is_active = False
    gone.save()
    tabs = {tab.name for tab in viewer_client.get(ASSIGNED).context["tabs"]}
    assert tabs == {"Busy", "Empty"}
    assert "Busy (2)" in response.content.decode()


def test_assigned_tab_lists_the_accounts_evses_with_since_and_by(viewer_client):
    account = PayoutAccountFactory(name="Mine")
    alice = UserFactory(username="alice")
    AssignmentFactory(
        evse=evse("BE*BEC*E0001"),
        payout_account=account,
        assigned_by=alice,
        assigned_at=timezone.now() - timedelta(days=3),
    )
    AssignmentFactory(evse=evse("BE*BEC*E0002"), payout_account=PayoutAccountFactory())

    response = viewer_client.get(ASSIGNED, {"account": account.pk})

    assert rows(response) == ["BE*BEC*E0001"]
    content = response.content.decode()
    assert ">Assigned since" in content and ">Assigned by" in content
    assert "alice" in content


def test_assigned_filters_since_and_by(viewer_client):
    account = PayoutAccountFactory()
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    AssignmentFactory(
        evse=evse("BE*BEC*E0001"),
        payout_account=account,
        assigned_by=alice,
        assigned_at=timezone.now() - timedelta(days=30),
    )
    AssignmentFactory(
        evse=evse("BE*BEC*E0002", city="Brugge"),
        payout_account=account,
        assigned_by=bob,
        assigned_at=timezone.now() - timedelta(days=1),
    )
    since = (timezone.localdate() - timedelta(days=7)).isoformat()
    query = {"account": account.pk}

    assert rows(viewer_client.get(ASSIGNED, query | {"assigned_since": since})) == ["BE*BEC*E0002"]
    assert rows(viewer_client.get(ASSIGNED, query | {"assigned_by": "ALICE"})) == ["BE*BEC*E0001"]
    assert rows(viewer_client.get(ASSIGNED, query | {"city": "brugge"})) == ["BE*BEC*E0002"]
    invalid = viewer_client.get(ASSIGNED, query | {"assigned_since": "yesterday"})
    assert invalid.status_code == 200 and rows(invalid) == []


def test_assigned_page_without_accounts_says_what_to_do(viewer_client):
    content = viewer_client.get(ASSIGNED).content.decode()

    assert "There are no payout accounts yet" in content


def test_unassign_flow(manager_client, manager):
    account = PayoutAccountFactory(name="Mine")
    keep, drop = (
        AssignmentFactory(evse=evse(f"BE*BEC*E000{n}"), payout_account=account) for n in (1, 2)
    )
    selection = {"evse": [drop.evse.pk], "account": account.pk, "filters": f"account={account.pk}"}

    confirmation = manager_client.post(UNASSIGN, selection)
    assert confirmation.status_code == 200
    content = confirmation.content.decode()
    assert "BE*BEC*E0002" in content and "Mine" in content and ">Confirm</button>" in content

    done = manager_client.post(UNASSIGN, selection | {"confirm": "1"})

    assert done["Location"] == f"{ASSIGNED}?account={account.pk}"
    assert message_texts(done) == ["1 EVSE unassigned from Mine"]
    drop.refresh_from_db()
    keep.refresh_from_db()
    assert drop.unassigned_by == manager and drop.unassign_reason == "manual"
    assert keep.is_open
    assert AuditEvent.objects.get(action="unassign").actor == manager


def test_unassign_all_matching_in_a_tab(manager_client):
    account = PayoutAccountFactory(name="Mine")
    other = PayoutAccountFactory()
    for n in range(3):
        AssignmentFactory(evse=evse(f"BE*BEC*E100{n}", city="Gent"), payout_account=account)
    AssignmentFactory(evse=evse("BE*BEC*E2000", city="Gent"), payout_account=other)
    AssignmentFactory(evse=evse("BE*BEC*E3000", city="Brugge"), payout_account=account)
    selection = {"select_across": "1", "account": account.pk, "filters": "city=gent"}

    done = manager_client.post(UNASSIGN, selection | {"confirm": "1"})

    assert message_texts(done) == ["3 EVSEs unassigned from Mine"]
    assert Assignment.objects.open().filter(payout_account=account).count() == 1
    assert Assignment.objects.open().filter(payout_account=other).count() == 1


def test_after_assigning_the_message_links_to_the_cdrs_to_rerate(manager_client):
    account = PayoutAccountFactory(name="Own main", holder=None)
    charger = EVSEFactory(location=LocationFactory(owner=None))
    waiting = CDRFactory.create_batch(
        2, evse=charger, status=CDRStatus.NOT_INVOICEABLE, reason=CDRReason.EVSE_UNASSIGNED
    )
    CDRFactory(
        evse=EVSEFactory(), status=CDRStatus.NOT_INVOICEABLE, reason=CDRReason.EVSE_UNASSIGNED
    )

    done = manager_client.post(
        ASSIGN, {"evse": [charger.pk], "account": account.pk, "confirm": "1"}
    )

    texts = message_texts(done)
    assert texts[0] == "1 EVSE assigned to Own main"
    assert texts[1].startswith("2 of their CDRs cannot be invoiced until re-rated.")
    link = re.search(r'href="([^"]+)"', texts[1]).group(1).replace("&amp;", "&")
    overview = manager_client.get(link)
    assert {row.record.pk for row in overview.context["table"].paginated_rows} == {
        cdr.pk for cdr in waiting
    }
    assert "Rerate CDRs</button>" in overview.content.decode()


def test_assigning_evses_without_waiting_cdrs_gives_no_rerate_message(manager_client):
    account = PayoutAccountFactory(name="Own main", holder=None)
    charger = EVSEFactory(location=LocationFactory(owner=None))

    done = manager_client.post(
        ASSIGN, {"evse": [charger.pk], "account": account.pk, "confirm": "1"}
    )

    assert message_texts(done) == ["1 EVSE assigned to Own main"]


@pytest.mark.parametrize("sort", ["output", "-output", "power_type", "city", "sub_cpo"])
def test_equal_sort_keys_are_ordered_by_evse_id(viewer_client, sort):
    site = LocationFactory(city="Gent", owner=SubCPOFactory(name="Hotel"))
    for evse_id in ("BE*BEC*E0003", "BE*BEC*E0001", "BE*BEC*E0002"):
        EVSEFactory(evse_id=evse_id, location=site, output_kw=Decimal("22"), power_type="DC")

    listed = rows(viewer_client.get(UNASSIGNED, {"sort": sort}))

    expected = ["BE*BEC*E0001", "BE*BEC*E0002", "BE*BEC*E0003"]
    assert listed == (expected[::-1] if sort.startswith("-") else expected)


def test_table_tabs_show_their_counts(viewer_client):
    EVSEFactory.create_batch(3)
    AssignmentFactory.create_batch(2)

    page = viewer_client.get(UNASSIGNED).content.decode()

    assert 'Unassigned EVSEs <span class="count">(3)</span>' in page
    assert 'Assigned EVSEs <span class="count">(2)</span>' in page


def test_a_deep_page_shows_the_rows_of_that_page_and_counts_only_unassigned_ones(viewer_client):
    """Pages past the first are found on the narrow table of unassigned EVSEs with their count;
    assigned and REMOVED EVSEs are neither shown nor counted."""
    gent, elsewhere = LocationFactory(city="Gent"), LocationFactory(city="Brugge")
    for n in range(60):
        EVSEFactory(evse_id=f"BE*BEC*E7{n:03d}", location=gent, output_kw=Decimal(n + 1))
    EVSEFactory(evse_id="BE*BEC*E7998", location=elsewhere)
    AssignmentFactory(evse=EVSEFactory(evse_id="BE*BEC*E7999", location=gent))
    EVSEFactory(evse_id="BE*BEC*E7997", location=gent, status=EVSEStatus.REMOVED)

    by_id = viewer_client.get(UNASSIGNED, {"city": "gent", "page": 2})
    assert rows(by_id) == [f"BE*BEC*E7{n:03d}" for n in range(25, 50)]
    assert by_id.context["total"] == 60

    by_output = viewer_client.get(UNASSIGNED, {"city": "gent", "sort": "-output", "page": 3})
    assert rows(by_output) == [f"BE*BEC*E7{n:03d}" for n in range(9, -1, -1)]
    assert by_output.context["total"] == 60

    past_the_end = viewer_client.get(UNASSIGNED, {"city": "gent", "page": 9})
    assert rows(past_the_end) == [f"BE*BEC*E7{n:03d}" for n in range(50, 60)]  # the last page


def test_account_tabs_name_each_account_with_its_count_and_mark_the_current_one(viewer_client):
    current = PayoutAccountFactory(name="Hotel <Zon> & Co")
    closing = PayoutAccountFactory(name="Closing", is_active=False)
    for _ in range(3):
        AssignmentFactory(payout_account=current)
    AssignmentFactory(payout_account=closing)

    html = viewer_client.get(ASSIGNED, {"account": current.pk}).content.decode()

    assert (
        f'<li class="active"><a href="?account={current.pk}" aria-current="page">'
        "Hotel &lt;Zon&gt; &amp; Co (3)</a></li>"
    ) in html
    assert f'<li><a href="?account={closing.pk}">Closing (1) — inactive</a></li>' in html


def test_table_tabs_count_unassigned_and_assigned_evses(viewer_client):
    EVSEFactory.create_batch(2)
    for _ in range(3):
        AssignmentFactory()
    closed = AssignmentFactory()
    Assignment.objects.filter(pk=closed.pk).update(
        unassigned_at=timezone.now(), unassign_reason="manual"
    )

    for url in (UNASSIGNED, ASSIGNED):
        html = viewer_client.get(url).content.decode()
        assert 'Unassigned EVSEs <span class="count">(3)</span>' in html
        assert 'Assigned EVSEs <span class="count">(3)</span>' in html
