import pytest

from evse_payout.models import Assignment, CDRReason, CDRStatus, EVSEStatus, UnassignReason
from tests.factories import AssignmentFactory, CDRFactory, EVSEFactory, PayoutAccountFactory

pytestmark = pytest.mark.django_db


def test_home_redirects_to_login_when_logged_out(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/")


def test_home_lists_every_page(manager_client):
    response = manager_client.get("/")
    for name in ("Payout EVSE assignment", "CDR overview", "Invoice runs", "Payout accounts"):
        assert name in response.content.decode()


def test_saving_account_inactive_closes_its_open_assignments():
    account = PayoutAccountFactory()
    AssignmentFactory.create_batch(3, payout_account=account)
    account.is_active = False
    account.save()
    assert not Assignment.objects.open().filter(payout_account=account).exists()
    assert set(Assignment.objects.values_list("unassign_reason", flat=True)) == {
        UnassignReason.ACCOUNT_DEACTIVATED
    }


@pytest.mark.django_db(transaction=True)
def test_role_fixtures_survive_transactional_flushes(manager):
    assert manager.has_perm("evse_payout.add_assignment")
    assert not manager.has_perm("evse_payout.add_invoicerun")


def test_partial_save_of_deactivation_stores_when():
    account = PayoutAccountFactory()
    AssignmentFactory(payout_account=account)
    account.is_active = False
    account.save(update_fields=["is_active"])
    account.refresh_from_db()
    assert account.deactivated_at is not None
    assert not Assignment.objects.open().filter(payout_account=account).exists()


def test_home_shows_no_figures_to_a_login_without_a_role(client):
    from tests.factories import EVSEFactory, UserFactory

    EVSEFactory.create_batch(3)
    client.force_login(UserFactory())
    body = client.get("/").content.decode()
    assert "has no role yet" in body
    assert "unassigned EVSEs" not in body


def test_home_counts_unassigned_and_assigned_evses_and_cdrs_that_cannot_be_invoiced(
    manager_client,
):
    EVSEFactory.create_batch(3)
    AssignmentFactory.create_batch(2)
    EVSEFactory(status=EVSEStatus.REMOVED)
    CDRFactory.create_batch(
        2, evse=None, status=CDRStatus.NOT_INVOICEABLE, reason=CDRReason.EVSE_UNKNOWN
    )
    CDRFactory(evse=None)  # new: not rated yet, so not counted

    page = manager_client.get("/").content.decode()

    assert "3 unassigned EVSEs, 2 assigned." in page
    assert "2 CDRs cannot be invoiced." in page
