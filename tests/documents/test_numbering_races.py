"""Gapless document numbers when statements get their documents at the same moment (PostgreSQL)."""

import threading

import pytest
from django.db import connection, connections

from evse_payout.models import Document, DocumentKind
from evse_payout.services.documents import issue_statement_documents
from tests.documents.helpers import ISSUED_ON, payee, statement


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_statements_at_once_get_gapless_numbers(vat_rates):
    assert connection.vendor == "postgresql"
    statements = [statement(payee("be_registered", name=f"Payee {n}")) for n in range(8)]
    barrier = threading.Barrier(len(statements))
    errors = []

    def issue(invoice):
        try:
            barrier.wait()
            issue_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=issue, args=(invoice,)) for invoice in statements]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    for kind, prefix in (
        (DocumentKind.SELF_BILLED_INVOICE, "SB"),
        (DocumentKind.FEE_INVOICE, "FE"),
    ):
        numbers = sorted(Document.objects.filter(kind=kind).values_list("number", flat=True))
        assert numbers == [f"{prefix}-2026-{n:06d}" for n in range(1, 9)]
