"""Cancel a final statement with credit notes: exact reversal, lines kept, CDRs rated again."""

from decimal import Decimal

import pytest

from evse_payout.models import (
    CDR,
    AuditAction,
    AuditEvent,
    CDRStatus,
    Document,
    DocumentKind,
    InvoiceStatus,
)
from evse_payout.services.documents import (
    CancelError,
    cancel_preview,
    cancel_statement,
    issue_statement_documents,
)
from evse_payout.services.payout_files import statement_lines
from tests.documents.helpers import ISSUED_ON, add_lines, payee, statement
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def final_statement():
    """Two lines: 12.3456 and 7.6544 collected (Σ 20.00), fees 1.2346 and 0.7654 (Σ 2.00)."""
    invoice = statement(payee("be_registered"), excl="20.00", fees="2.00")
    amounts = {1: ("12.3456", "1.2346"), 2: ("7.6544", "0.7654")}
    add_lines(
        invoice,
        2,
        excl=lambda i: Decimal(amounts[i][0]),
        fee=lambda i: Decimal(amounts[i][1]),
    )
    issue_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON)
    return invoice


def test_cancel_credits_both_documents_exactly_and_returns_the_cdrs_to_rated(final_statement):
    finance = UserFactory(username="finance-cancel")
    cancellation = cancel_statement(invoice=final_statement, actor=finance, reason="wrong IBAN")

    notes = {d.kind: d for d in Document.objects.filter(invoice=final_statement)}
    # Self-billed: 20.00 + 21 % 4.20 = 24.20; fee: 2.00 + 0.42 = 2.42.
    self_billed_credit = notes[DocumentKind.SELF_BILLED_CREDIT_NOTE]
    fee_credit = notes[DocumentKind.FEE_CREDIT_NOTE]
    assert (self_billed_credit.net, self_billed_credit.vat, self_billed_credit.total) == (
        Decimal("-20.00"),
        Decimal("-4.20"),
        Decimal("-24.20"),
    )
    assert (fee_credit.net, fee_credit.vat, fee_credit.total) == (
        Decimal("-2.00"),
        Decimal("-0.42"),
        Decimal("-2.42"),
    )
    assert sum(d.total for d in notes.values()) == Decimal("0.00")
    assert list(CDR.objects.values_list("status", "statement_line")) == [
        (CDRStatus.RATED, None),
        (CDRStatus.RATED, None),
    ]
    assert cancellation.cdr_count == 2
    final_statement.refresh_from_db()
    assert final_statement.status == InvoiceStatus.FINAL  # its number and documents stay


def test_a_cancelled_statement_keeps_its_lines_as_they_were(final_statement):
    cancel_statement(invoice=final_statement, actor=None)
    CDR.objects.update(fee=Decimal("9.9999"))  # a later re-rating changes the CDRs
    lines = [(row[0][-5:], row[8], row[10]) for row in statement_lines(final_statement)]
    assert lines == [
        ("00001", Decimal("12.3456"), Decimal("1.2346")),
        ("00002", Decimal("7.6544"), Decimal("0.7654")),
    ]


def test_cancel_is_audited_with_the_credit_note_numbers(final_statement):
    cancel_statement(invoice=final_statement, actor=UserFactory(username="fin"))
    event = AuditEvent.objects.get(action=AuditAction.INVOICE_CANCEL)
    assert event.actor_label == "fin"
    assert event.object_count == 2
    assert "credit notes SBC-2026-000001, FEC-2026-000001" in event.summary


def test_preview_shows_what_would_be_credited(final_statement):
    preview = cancel_preview(invoice=final_statement)
    assert [(d.number, d.total) for d in preview.documents] == [
        ("SB-2026-000001", Decimal("24.20")),
        ("FE-2026-000001", Decimal("2.42")),
    ]
    assert preview.cdr_count == 2


def test_a_statement_is_cancelled_once_and_a_draft_not_at_all(final_statement):
    cancel_statement(invoice=final_statement, actor=None)
    with pytest.raises(CancelError, match="is already cancelled. Nothing was changed."):
        cancel_statement(invoice=final_statement, actor=None)
    draft = statement(payee("nl_registered"), status=InvoiceStatus.DRAFT, number=None)
    with pytest.raises(CancelError, match="is draft: only a final statement is cancelled"):
        cancel_statement(invoice=draft, actor=None)
    assert Document.objects.filter(kind=DocumentKind.SELF_BILLED_CREDIT_NOTE).count() == 1


def test_a_statement_linked_by_a_carried_forward_balance_is_not_cancelled_alone(final_statement):
    final_statement.carried_forward = True
    final_statement.save(update_fields=["carried_forward"])
    following = statement(payee("nl_registered"), status=InvoiceStatus.DRAFT, number=None)
    following.brought_forward_from = final_statement
    following.balance_brought_forward = Decimal("-5.00")
    following.save(update_fields=["brought_forward_from", "balance_brought_forward"])
    with pytest.raises(CancelError, match=r"balance is carried into Draft statement \d+"):
        cancel_statement(invoice=final_statement, actor=None)
