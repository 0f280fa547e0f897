import importlib

import pytest
from django.apps import apps
from django.db import connection

from tests.factories import UserFactory

VIEWER, MANAGER, FINANCE = "Payout viewer", "Payout manager", "Finance"


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` need real row locks and concurrent transactions."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://…")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def roles(db):
    """The role groups of migration 0002; transactional tests flush them, so make them again."""
    migration = importlib.import_module("evse_payout.migrations.0002_groups")
    migration.create_groups(apps, None)
    importlib.import_module("evse_payout.migrations.0006_jobs_roles").grant_job_permissions(
        apps, None
    )


@pytest.fixture
def vat_rates(db):
    """The VAT rates of migration 0006; transactional tests flush them, so seed them again."""
    migration = importlib.import_module(
        "evse_payout.migrations.0006_documents_vat_rates_and_documents"
    )
    migration.seed_standard_rates(apps, None)


@pytest.fixture(autouse=True)
def _vat_rates_after_flush(request):
    """Finalizing issues VAT documents: transactional tests start flushed, so seed the rates."""
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        request.getfixturevalue("vat_rates")


@pytest.fixture
def viewer(roles):
    return UserFactory(username="viewer", groups=[VIEWER])


@pytest.fixture
def manager(roles):
    return UserFactory(username="manager", groups=[MANAGER])


@pytest.fixture
def finance(roles):
    return UserFactory(username="finance", groups=[FINANCE])


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def finance_client(client, finance):
    client.force_login(finance)
    return client


def is_postgres():
    return connection.vendor == "postgresql"
