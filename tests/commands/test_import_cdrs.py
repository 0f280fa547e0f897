import json
import multiprocessing
import signal
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evse_payout.models import CDR, CDRRating, CDRReason, CDRStatus
from evse_payout.services import imports
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    EVSEFactory,
    PayoutAccountFactory,
    ocpi_cdr_payload,
)
from tests.ocpi.conftest import fixture_json

pytestmark = pytest.mark.django_db


def _run(path, *args):
    out, err = StringIO(), StringIO()
    try:
        call_command("import_cdrs", str(path), *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


def _cdrs(count, **overrides):
    return [ocpi_cdr_payload(id=f"CDR{n:04d}", **overrides) for n in range(1, count + 1)]


@pytest.fixture
def assigned_evse():
    evse = EVSEFactory(uid="3256", evse_id="BE*BEC*E041503003")
    AssignmentFactory(evse=evse, payout_account=PayoutAccountFactory(currency="EUR"))
    return evse


def test_json_list_is_imported_and_rated(tmp_path, assigned_evse):
    path = tmp_path / "cdrs.json"
    path.write_text(json.dumps(_cdrs(3), indent=1))

    out, err, error = _run(path)

    assert error is None, err
    assert out.strip() == "Imported 3 CDRs (0 already present, 0 rejected)"
    assert CDR.objects.count() == 3
    assert set(CDR.objects.values_list("status", flat=True)) == {CDRStatus.RATED}
    assert CDR.objects.filter(evse=assigned_evse).count() == 3
    assert CDRRating.objects.count() == 3
    assert CDR.objects.get(cdr_id="CDR0001").total_cost_excl_vat == Decimal("10.00")


def test_json_lines_are_imported(tmp_path, assigned_evse):
    path = tmp_path / "cdrs.jsonl"
    path.write_text("".join(json.dumps(cdr) + "\n" for cdr in _cdrs(3)))

    out, _, error = _run(path)

    assert error is None
    assert out.strip() == "Imported 3 CDRs (0 already present, 0 rejected)"


def test_one_object_and_the_ocpi_example_are_imported(tmp_path):
    path = tmp_path / "cdr.json"
    path.write_text(json.dumps(fixture_json("cdr_example.json"), indent=2))

    out, _, error = _run(path)

    assert error is None
    cdr = CDR.objects.get()
    assert (cdr.cdr_id, cdr.total_energy) == ("12345", Decimal("15.342"))
    assert cdr.reason == CDRReason.EVSE_UNKNOWN


def test_mixed_file_stores_the_good_lists_the_bad_and_exits_1(tmp_path, assigned_evse):
    good = _cdrs(3)
    missing_uid = ocpi_cdr_payload(id="BAD1")
    del missing_uid["cdr_location"]["evse_uid"]
    lines = [
        json.dumps(good[0]),
        "{not json",
        json.dumps(missing_uid),
        json.dumps(good[1]),
        json.dumps(ocpi_cdr_payload(id="BAD2", total_energy="lots")),
        json.dumps([good[2]]),
        json.dumps(good[2]),
    ]
    path = tmp_path / "cdrs.jsonl"
    path.write_text("\n".join(lines) + "\n")

    out, err, error = _run(path)

    assert isinstance(error, CommandError)
    assert str(error) == "4 records were rejected (listed above)."
    assert out.strip() == "Imported 3 CDRs (0 already present, 4 rejected)"
    assert "Rejected line 2: Not valid JSON" in err
    assert "Rejected line 3: cdr_location.evse_uid: Field required" in err
    assert "Rejected line 5: total_energy: Input should be a valid decimal" in err
    assert "Rejected line 6: Expected a JSON object (one OCPI CDR)." in err
    assert set(CDR.objects.values_list("cdr_id", flat=True)) == {"CDR0001", "CDR0002", "CDR0003"}


def test_exit_code_is_1_from_the_command_line(tmp_path):
    from django.core.management import ManagementUtility

    path = tmp_path / "cdrs.jsonl"
    path.write_text("nope\n")

    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "import_cdrs", str(path), "-v", "0"]).execute()

    assert exited.value.code == 1


def test_import_is_idempotent(tmp_path, assigned_evse):
    path = tmp_path / "cdrs.json"
    path.write_text(json.dumps(_cdrs(3)))
    _run(path)

    out, _, error = _run(path)

    assert error is None
    assert out.strip() == "Imported 0 CDRs (3 already present, 0 rejected)"
    assert CDR.objects.count() == 3
    assert CDRRating.objects.count() == 3


def test_a_cdr_repeated_in_the_file_is_stored_once(tmp_path):
    path = tmp_path / "cdrs.json"
    path.write_text(json.dumps(_cdrs(1) * 2))

    out, _, _ = _run(path)

    assert out.strip() == "Imported 1 CDRs (1 already present, 0 rejected)"
    assert CDR.objects.count() == 1


def test_changed_cdr_is_rejected_as_immutable(tmp_path):
    CDRFactory(cdr_id="CDR0001", content_hash="something else")
    path = tmp_path / "cdrs.json"
    path.write_text(json.dumps(_cdrs(2)))

    out, err, error = _run(path)

    assert error is not None
    assert "Rejected item 1: CDRs are immutable; send a credit CDR to correct CDR CDR0001" in err
    assert out.strip() == "Imported 1 CDRs (0 already present, 1 rejected)"


def test_credit_in_the_same_file_is_rated_against_its_original(tmp_path, assigned_evse):
    original = ocpi_cdr_payload(id="ORIG")
    credit = ocpi_cdr_payload(
        id="ORIG-C", credit=True, credit_reference_id="ORIG",
        total_cost={"excl_vat": -10.00, "incl_vat": -12.10},
    )  # fmt: skip
    path = tmp_path / "cdrs.json"
    path.write_text(json.dumps([credit, original]))

    _, err, error = _run(path)

    assert error is None, err
    stored = CDR.objects.get(cdr_id="ORIG-C")
    assert stored.credited_cdr == CDR.objects.get(cdr_id="ORIG")
    assert stored.status == CDRStatus.RATED
    assert stored.payout == -CDR.objects.get(cdr_id="ORIG").payout


def test_batches_are_independent_of_their_size(tmp_path, assigned_evse):
    path = tmp_path / "cdrs.json"
    path.write_text(json.dumps(_cdrs(7)))

    out, _, _ = _run(path, "--batch-size", "3")

    assert out.strip() == "Imported 7 CDRs (0 already present, 0 rejected)"
    assert CDR.objects.filter(status=CDRStatus.RATED).count() == 7


def test_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "cdrs.jsonl"
    path.write_text(json.dumps(_cdrs(1)[0]) + "\nnope\n")

    out, err, error = _run(path, "--dry-run")

    assert out.strip() == (
        "Dry run: would import 1 CDRs (0 already present, 1 rejected); nothing was written."
    )
    assert "Rejected line 2" in err
    assert error is not None
    assert not CDR.objects.exists()


def test_a_broken_json_list_reports_where_reading_stopped(tmp_path):
    path = tmp_path / "cdrs.json"
    path.write_text(json.dumps(_cdrs(2))[:-50])

    out, err, error = _run(path)

    assert error is not None
    assert "Rejected item 2: Not valid JSON" in err
    assert "Rejected the file: the rest of the file could not be read" in err
    assert CDR.objects.get().cdr_id == "CDR0001"


def test_batch_import_takes_the_same_number_of_queries_for_5_and_50_cdrs(tmp_path, assigned_evse):
    counts = []
    for size, prefix in ((5, "A"), (50, "B")):
        path = tmp_path / f"{prefix}.json"
        path.write_text(json.dumps([ocpi_cdr_payload(id=f"{prefix}{n}") for n in range(size)]))
        with CaptureQueriesContext(connection) as queries:
            _run(path)
        # SQLite caps the parameters of one statement: its bulk INSERT comes in chunks.
        counts.append(
            sum(not q["sql"].startswith('INSERT INTO "evse_payout_cdr" ') for q in queries)
        )

    assert counts[0] == counts[1]
    assert CDR.objects.count() == 55


# What keeps the import fast: CDRs are rated before they are stored, in a constant number of queries.


def _mixed_file(tmp_path, prefix, size):
    """`size` CDRs: on the assigned EVSE, on an unknown EVSE, and credits of CDRs in the file."""
    payloads = []
    for n in range(size):
        if n % 4 == 1:
            payloads.append(
                ocpi_cdr_payload(
                    id=f"{prefix}{n}",
                    cdr_location={
                        **ocpi_cdr_payload()["cdr_location"],
                        "evse_uid": "NOPE",
                        "evse_id": "BE*BEC*E404",
                    },
                )  # fmt: skip
            )
        elif n % 4 == 3:
            payloads.append(
                ocpi_cdr_payload(
                    id=f"{prefix}{n}",
                    credit=True,
                    credit_reference_id=f"{prefix}{n - 1}",
                    total_cost={"excl_vat": -10.00, "incl_vat": -12.10},
                )  # fmt: skip
            )
        else:
            payloads.append(ocpi_cdr_payload(id=f"{prefix}{n}"))
    path = tmp_path / f"{prefix}.json"
    path.write_text(json.dumps(payloads))
    return path


def test_import_stores_cdrs_already_rated_without_any_update(tmp_path, assigned_evse):
    from evse_payout.models import AuditEvent

    path = _mixed_file(tmp_path, "M", 8)

    with CaptureQueriesContext(connection) as queries:
        out, err, error = _run(path)

    assert error is None, err
    assert not [q["sql"] for q in queries if q["sql"].upper().startswith("UPDATE")]
    assert dict(CDR.objects.values_list("cdr_id", "status")) == {
        "M0": CDRStatus.RATED, "M1": CDRStatus.NOT_INVOICEABLE, "M2": CDRStatus.RATED,
        "M3": CDRStatus.RATED, "M4": CDRStatus.RATED, "M5": CDRStatus.NOT_INVOICEABLE,
        "M6": CDRStatus.RATED, "M7": CDRStatus.RATED,
    }  # fmt: skip
    credit = CDR.objects.get(cdr_id="M3")
    assert credit.credited_cdr == CDR.objects.get(cdr_id="M2")
    assert credit.payout == -CDR.objects.get(cdr_id="M2").payout
    assert CDR.objects.get(cdr_id="M0").raw == ocpi_cdr_payload(id="M0")
    # One history row per CDR (intake); intake is not a re-rate: no audit event.
    assert CDRRating.objects.count() == 8
    assert not AuditEvent.objects.exists()


def test_import_takes_the_same_number_of_queries_for_20_and_200_cdrs(tmp_path, assigned_evse):
    counts = []
    for size, prefix in ((20, "A"), (200, "B")):
        path = _mixed_file(tmp_path, prefix, size)
        with CaptureQueriesContext(connection) as queries:
            _, err, error = _run(path, "--batch-size", "1000")
        assert error is None, err
        counts.append(len(queries))

    assert counts[0] == counts[1]
    assert CDR.objects.count() == 220


def _stored_cdrs():
    skip = {"id", "received_at", "rated_at", "credited_cdr"}
    fields = [f.attname for f in CDR._meta.concrete_fields if f.name not in skip]
    return sorted(CDR.objects.values_list(*fields), key=str)


def test_reader_process_leaves_the_database_connection_to_this_process(
    tmp_path, assigned_evse, monkeypatch
):
    # The reader is forked with this process's open connection; closing it there would end this
    # process's session (PostgreSQL) and with it the transaction the import ran in.
    monkeypatch.setattr(imports, "READ_AHEAD_MIN_BYTES", 0)
    path = tmp_path / "cdrs.jsonl"
    path.write_text("\n".join(map(json.dumps, _cdrs(3))) + "\n")
    CDR.objects.exists()  # the connection is open before the fork

    out, err, error = _run(path)

    assert error is None, err
    assert CDR.objects.count() == 3
    assert connection.in_atomic_block


def test_terminated_reader_process_stops_under_a_worker_that_traps_sigterm(tmp_path):
    # A job worker finishes its current job on SIGTERM; the reader it forks must not inherit that.
    path = tmp_path / "cdrs.jsonl"
    path.write_text("{}\n" * (10 * imports.READ_AHEAD_CHUNK))
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=1)
    reader = context.Process(target=imports.read_ahead, args=(str(path), queue), daemon=True)
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        reader.start()
        queue.get(timeout=10)  # it runs, then waits for room in the queue
        reader.terminate()
        reader.join(timeout=10)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if reader.is_alive():
            reader.kill()  # the test fails, it does not hang
            reader.join()

    assert reader.exitcode == -signal.SIGTERM


def test_reading_ahead_in_a_second_process_stores_exactly_the_same(
    tmp_path, assigned_evse, monkeypatch
):
    good = _cdrs(3)
    credit = ocpi_cdr_payload(
        id="CREDIT1", credit=True, credit_reference_id=good[0]["id"],
        total_cost={"excl_vat": "-2.00", "incl_vat": "-2.42"}, total_energy="-1.000",
    )  # fmt: skip
    path = tmp_path / "cdrs.jsonl"
    path.write_text("\n".join([*map(json.dumps, good), "{not json", json.dumps(credit)]) + "\n")
    in_process = _run(path)
    stored = _stored_cdrs()
    CDRRating.objects.all().delete()
    CDR.objects.filter(credit=True).delete()
    CDR.objects.all().delete()
    monkeypatch.setattr(imports, "READ_AHEAD_MIN_BYTES", 0)

    read_ahead = _run(path)

    assert read_ahead[0] == in_process[0]
    assert "Rejected line 4: Not valid JSON" in read_ahead[1]
    assert str(read_ahead[2]) == str(in_process[2]) == "1 records were rejected (listed above)."
    assert _stored_cdrs() == stored
    assert len(stored) == 4
