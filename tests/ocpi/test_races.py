"""Two peers sending the same CDR at the same moment: stored once, both answered 1000."""

import threading

import pytest
from django.db import connection

from evse_payout.models import CDR
from evse_payout.services.ocpi_ingest import ingest_cdr
from tests.factories import ocpi_cdr_payload


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_intake_of_the_same_cdr_stores_it_once():
    barrier = threading.Barrier(4)
    results, errors = [], []

    def send():
        try:
            barrier.wait()
            results.append(ingest_cdr(payload=ocpi_cdr_payload(), actor_name="race"))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(result.created for result in results) == [False, False, False, True]
    assert CDR.objects.count() == 1
    assert len({result.cdr.pk for result in results}) == 1
