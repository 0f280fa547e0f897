"""Access control (issue 7.4): every URL needs a login or an OCPI token; every changing action
needs its permission, also when the POST is forged; CSRF on every form; no open redirect."""

import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.contrib.admin.sites import site as admin_site
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from evse_payout.models import (
    Assignment,
    Document,
    DocumentKind,
    Invoice,
    InvoiceRun,
    InvoiceStatus,
    Job,
    JobKind,
    PayoutAccount,
)
from evse_payout.services.accounts import deactivate_payout_account
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    EVSEFactory,
    PayoutAccountFactory,
    UserFactory,
)

from .conftest import assert_ocpi_envelope

pytestmark = pytest.mark.django_db

# Reached without a login by design.
PUBLIC = {"login", "logout", "admin:login", "admin:logout"}


# -- The world every URL is tried against ------------------------------------------------------


class World:
    """One object of each kind the pages show, so every URL names something that exists."""

    def __init__(self):
        self.account = PayoutAccountFactory()
        self.unassigned = EVSEFactory()
        self.assignment = AssignmentFactory(payout_account=self.account)
        self.assigned = self.assignment.evse
        self.cdr = CDRFactory(evse=self.assigned)
        now = timezone.now()
        self.run = InvoiceRun.objects.create(cutoff=now.date(), created_at=now)
        self.invoice = Invoice.objects.create(
            run=self.run,
            payout_account=self.account,
            currency="EUR",
            status=InvoiceStatus.DRAFT,
            created_at=now,
            period_start=now - timedelta(days=30),
            period_end=now,
        )
        self.job = Job.objects.create(kind=JobKind.RERATE, created_at=now)
        self.document = Document.objects.create(
            invoice=self.invoice,
            kind=DocumentKind.FEE_INVOICE,
            number="FE-2026-000001",
            issue_date=now.date(),
            currency="EUR",
            period_start=now.date(),
            period_end=now.date(),
            net=Decimal("1.00"),
            vat_rate=Decimal("21.00"),
            vat=Decimal("0.21"),
            total=Decimal("1.21"),
            vat_category="S",
            vat_treatment="Belgium VAT at 21 %",
            created_at=now,
        )
        self.pks = {
            "document": self.document.pk,
            "job": self.job.pk,
            "account": self.account.pk,
            "evse": self.unassigned.pk,
            "cdr": self.cdr.pk,
            "invoice_run": self.run.pk,
            "invoice": self.invoice.pk,
        }

    def pk_for(self, name: str) -> int:
        """The object a `<int:pk>` of our own URL names (by the URL name's leading noun)."""
        for noun in ("invoice_run", "invoice", "document", "account", "evse", "cdr", "job"):
            if name.startswith(noun):
                return self.pks[noun]
        raise AssertionError(f"No object for URL {name}")

    def admin_object_id(self, name: str) -> str:
        for model in admin_site._registry:
            prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
            if name.startswith(prefix):
                obj = model._default_manager.order_by("pk").first()
                return str(obj.pk) if obj else "1"
        return "1"


@pytest.fixture
def world(db):
    return World()


def _patterns(resolver=None, namespace="", params=(), route="/"):
    """(qualified name, route, parameter names) of every URL pattern, recursively."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        names = (*params, *_parameters(pattern))
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, [namespace, pattern.namespace]))
            yield from _patterns(pattern, inner, names, route + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield name, route + str(pattern.pattern), names


def _parameters(pattern) -> tuple:
    return tuple(pattern.pattern.regex.groupindex)


# The unnamed catch-alls (by their parameter) are tried with a path no other pattern takes.
UNNAMED = {("url",): "/admin/no/such/page/", ("path",): "/ocpi/2.2.1/no/such/endpoint"}


def _url(world: World, name: str | None, route: str, params: tuple) -> str:
    if name is None:
        # The admin's `<object_id>/` only redirects to the change page.
        return UNNAMED.get(params) or route.replace("<path:object_id>", "1")
    values = {
        "app_label": "evse_payout",
        "content_type_id": str(ContentType.objects.get_for_model(PayoutAccount).pk),
        "cdr_id": world.cdr.cdr_id,
        "country_code": "BE",
        "party_id": "BEC",
        "location_id": world.unassigned.location.location_id,
        "evse_uid": world.unassigned.uid,
        "id": "1",  # the admin's password change of user 1
    }
    kwargs = {}
    for param in params:
        if param == "pk":
            kwargs[param] = world.pk_for(name.split(":")[-1])
        elif param == "object_id":
            kwargs[param] = world.admin_object_id(name.split(":")[-1])
        else:
            kwargs[param] = values[param]
    return reverse(name, kwargs=kwargs)


def every_url(world: World):
    for name, route, params in _patterns():
        if name not in PUBLIC:
            yield name or route, _url(world, name, route, params)


def _is_login_redirect(response, url: str) -> bool:
    location = response.get("Location", "")
    return response.status_code == 302 and (
        location == f"/login/?next={quote(url)}"
        or location.startswith(("/login/?next=", "/admin/login/?next="))
    )


def test_the_walk_covers_every_page_of_the_product(world):
    names = {name for name, _ in every_url(world)}

    for expected in ("evse_payout:home", "evse_payout:cdr_rerate", "evse_payout:invoice_discard",
                     "ocpi:cdrs", "ocpi:location_evse", "admin:index",
                     "admin:evse_payout_payoutaccount_change"):  # fmt: skip
        assert expected in names
    assert len(names) > 80


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_url_needs_a_login_or_an_ocpi_token(client, world, method):
    problems = []
    for name, url in every_url(world):
        response = getattr(client, method)(url)
        if name.startswith("ocpi:") or url.startswith("/ocpi/"):
            body = assert_ocpi_envelope(response)
            ok = response.status_code == 401 and body["status_code"] == 2000
        else:
            ok = _is_login_redirect(response, url)
        if not ok:
            problems.append((name, url, response.status_code, response.get("Location")))
    assert not problems


def test_the_login_page_is_public(client):
    assert client.get("/login/").status_code == 200
    assert client.get("/admin/login/").status_code == 200


# -- CSRF ------------------------------------------------------------------------------------


def test_every_form_post_needs_the_csrf_token(world, superuser):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    problems = []
    for name, url in [*every_url(world), ("login", "/login/"), ("logout", "/logout/")]:
        response = client.post(url, {"confirm": "1"})
        if url.startswith("/ocpi/"):
            # Exempt from CSRF: no cookie authenticates there, only the token.
            ok = response.status_code == 401
        else:
            ok = response.status_code == 403 and b"CSRF" in response.content
        if not ok:
            problems.append((name, url, response.status_code))
    assert not problems


# -- Permissions -----------------------------------------------------------------------------

ANONYMOUS, NOBODY, VIEWER, MANAGER, FINANCE, SUPERUSER = (
    "anonymous", "nobody", "viewer", "manager", "finance", "superuser"
)  # fmt: skip
ROLES = [ANONYMOUS, NOBODY, VIEWER, MANAGER, FINANCE, SUPERUSER]


def _action(name, method, data, allowed, *, url_name=None, pk=None):
    return pytest.param(name, method, data, allowed, url_name or name, pk, id=name)


ACTIONS = [
    _action("evses_assign", "post", lambda w: {"evse": [w.unassigned.pk]}, {MANAGER, SUPERUSER}),
    _action(
        "evses_assign_confirm",
        "post",
        lambda w: {"evse": [w.unassigned.pk], "account": w.account.pk, "confirm": "1"},
        {MANAGER, SUPERUSER},
        url_name="evses_assign",
    ),
    _action(
        "evses_unassign_confirm",
        "post",
        lambda w: {"evse": [w.assigned.pk], "account": w.account.pk, "confirm": "1"},
        {MANAGER, SUPERUSER},
        url_name="evses_unassign",
    ),
    _action("account_create_page", "get", None, {FINANCE, SUPERUSER}, url_name="account_create"),
    _action(
        "account_create",
        "post",
        lambda w: {
            "name": "Forged",
            "account_holder_name": "Forged NV",
            "iban": "BE68539007547034",
            "currency": "EUR",
            "commission_percent": "1",
            "fee_per_kwh": "0",
            "fee_per_session": "0",
        },  # fmt: skip
        {FINANCE, SUPERUSER},
    ),
    _action(
        "account_edit",
        "post",
        lambda w: {
            "name": "Renamed",
            "account_holder_name": "X",
            "iban": w.account.iban,
            "currency": "EUR",
            "commission_percent": "1",
            "fee_per_kwh": "0",
            "fee_per_session": "0",
        },  # fmt: skip
        {FINANCE, SUPERUSER},
        pk="account",
    ),
    _action(
        "account_deactivate_page",
        "get",
        None,
        {FINANCE, SUPERUSER},
        url_name="account_deactivate",
        pk="account",
    ),  # fmt: skip
    _action("account_deactivate", "post", lambda w: {}, {FINANCE, SUPERUSER}, pk="account"),
    _action("account_reactivate", "post", lambda w: {}, {FINANCE, SUPERUSER}, pk="account"),
    _action("cdr_rerate", "post", lambda w: {"pk": [w.cdr.pk]}, {MANAGER, FINANCE, SUPERUSER}),
    _action(
        "cdr_rerate_confirm",
        "post",
        lambda w: {"pk": [w.cdr.pk], "confirm": "1"},
        {MANAGER, FINANCE, SUPERUSER},
        url_name="cdr_rerate",
    ),
    _action("invoice_run_new_page", "get", None, {FINANCE, SUPERUSER}, url_name="invoice_run_new"),
    _action(
        "invoice_run_new",
        "post",
        lambda w: {"cutoff": timezone.now().date().isoformat(), "action": "confirm"},
        {FINANCE, SUPERUSER},
    ),
    _action("invoice_run_finalize", "post", lambda w: {}, {FINANCE, SUPERUSER}, pk="invoice_run"),
    _action("invoice_run_sepa", "get", None, {FINANCE, SUPERUSER}, pk="invoice_run"),
    # The ZIP of a run's documents needs what its download always needed: seeing the run.
    _action(
        "invoice_run_bundle",
        "post",
        lambda w: {},
        {VIEWER, MANAGER, FINANCE, SUPERUSER},
        pk="invoice_run",
    ),
    _action("invoice_finalize", "post", lambda w: {}, {FINANCE, SUPERUSER}, pk="invoice"),
    _action("invoice_discard", "post", lambda w: {}, {FINANCE, SUPERUSER}, pk="invoice"),
    _action(
        "job_cancel_page",
        "get",
        None,
        {MANAGER, FINANCE, SUPERUSER},
        url_name="job_cancel",
        pk="job",
    ),
    _action("job_cancel", "post", lambda w: {}, {MANAGER, FINANCE, SUPERUSER}, pk="job"),
    _action("import_file_page", "get", None, {MANAGER, FINANCE, SUPERUSER}, url_name="import_file"),
    _action("invoice_cancel", "post", lambda w: {}, {FINANCE, SUPERUSER}, pk="invoice"),
]


@pytest.fixture
def as_role(client, roles, request):
    def login(role):
        if role == ANONYMOUS:
            return client
        user = UserFactory(username="nobody") if role == NOBODY else request.getfixturevalue(role)
        client.force_login(user)
        return client

    return login


def _state(world: World) -> tuple:
    """What a forged request must not change."""
    account = PayoutAccount.objects.get(pk=world.account.pk)
    invoice = Invoice.objects.get(pk=world.invoice.pk)
    return (
        Assignment.objects.count(),
        Assignment.objects.filter(unassigned_at__isnull=True).count(),
        PayoutAccount.objects.count(),
        account.name,
        account.is_active,
        InvoiceRun.objects.count(),
        invoice.status,
        invoice.number,
        world.cdr.__class__.objects.get(pk=world.cdr.pk).status,
        Job.objects.get(pk=world.job.pk).state,
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("action", "method", "data", "allowed", "url_name", "pk"), ACTIONS)
def test_permission_matrix(as_role, world, role, action, method, data, allowed, url_name, pk):
    if action == "account_reactivate":
        deactivate_payout_account(account=world.account, actor=None)
    client = as_role(role)
    url = reverse(f"evse_payout:{url_name}", args=[world.pks[pk]] if pk else [])
    before = _state(world)

    response = getattr(client, method)(url, data(world) if data else None)

    if role == ANONYMOUS:
        assert _is_login_redirect(response, url)
        assert _state(world) == before
    elif role in allowed:
        assert response.status_code in (200, 302), response.status_code
        assert not _is_login_redirect(response, url)
    else:
        assert response.status_code == 403
        assert _state(world) == before


@pytest.mark.parametrize("role", [VIEWER, MANAGER, FINANCE, SUPERUSER])
def test_every_page_opens_for_every_role(as_role, world, role):
    client = as_role(role)
    pages = ["home", "evses_unassigned", "evses_assigned", "account_list", "cdr_list",
             "invoice_run_list"]  # fmt: skip
    urls = [reverse(f"evse_payout:{name}") for name in pages] + [
        reverse(f"evse_payout:{name}", args=[world.pk_for(name)])
        for name in (
            "account_edit",
            "evse_detail",
            "cdr_detail",
            "invoice_run_detail",
            "invoice_detail",
            "invoice_csv",
        )  # fmt: skip
    ]
    assert [(url, client.get(url).status_code) for url in urls] == [(url, 200) for url in urls]


def test_a_login_without_a_role_sees_no_data_page(as_role, world):
    client = as_role(NOBODY)
    urls = [reverse(f"evse_payout:{name}") for name in
            ("evses_unassigned", "evses_assigned", "account_list", "cdr_list",
             "invoice_run_list")] + [
        reverse(f"evse_payout:{name}", args=[world.pk_for(name)])
        for name in ("account_edit", "evse_detail", "cdr_detail", "invoice_run_detail",
                     "invoice_detail", "invoice_csv")
    ]  # fmt: skip
    assert [(url, client.get(url).status_code) for url in urls] == [(url, 403) for url in urls]


@pytest.mark.parametrize(
    ("page", "button"),
    [("evses_unassigned", b"Assign EVSEs"), ("cdr_list", b"Rerate CDRs"),
     ("evses_assigned", b"Unassign EVSEs")],
)  # fmt: skip
def test_a_viewer_sees_no_action_buttons(viewer_client, world, page, button):
    content = viewer_client.get(reverse(f"evse_payout:{page}")).content

    assert not re.search(rb"<button[^>]*>\s*" + re.escape(button), content)


# -- Open redirects --------------------------------------------------------------------------

EVIL = ["https://evil.example/", "//evil.example", "/\\evil.example", "\\\\evil.example",
        "https:evil.example", " //evil.example", "http://evil.example@testserver/",
        "javascript:alert(1)"]  # fmt: skip


def _stays_here(response) -> bool:
    location = response.get("Location", "")
    return (
        location.startswith("/")
        and not location.startswith(("//", "/\\"))
        and "evil.example" not in location.split("?")[0]
    )


@pytest.mark.parametrize("evil", EVIL)
def test_the_login_never_redirects_off_site(client, superuser, evil):
    superuser.set_password("secret-password")
    superuser.save()

    response = client.post(
        f"/login/?next={quote(evil)}", {"username": "root", "password": "secret-password"}
    )

    assert response.status_code == 302 and _stays_here(response), response.get("Location")


@pytest.mark.parametrize("evil", EVIL)
@pytest.mark.parametrize(
    ("url_name", "data"),
    [
        ("account_deactivate", {}),
        ("account_reactivate", {}),
        ("cdr_rerate", "cdr"),
    ],
)
def test_our_next_parameters_never_redirect_off_site(finance_client, world, evil, url_name, data):
    if url_name == "account_reactivate":
        deactivate_payout_account(account=world.account, actor=None)
    if data == "cdr":
        url, data = reverse("evse_payout:cdr_rerate"), {"pk": [world.cdr.pk], "confirm": "1"}
    else:
        url = reverse(f"evse_payout:{url_name}", args=[world.account.pk])

    response = finance_client.post(url, {**data, "next": evil})

    assert response.status_code == 302 and _stays_here(response), response.get("Location")


@pytest.mark.parametrize("evil", EVIL)
@pytest.mark.parametrize("url_name", ["account_create", "account_edit", "account_deactivate"])
def test_an_unsafe_next_is_not_carried_into_the_form(finance_client, world, evil, url_name):
    args = [] if url_name == "account_create" else [world.account.pk]

    response = finance_client.get(reverse(f"evse_payout:{url_name}", args=args), {"next": evil})

    assert response.status_code == 200
    assert b"evil.example" not in response.content
