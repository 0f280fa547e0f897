import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evse_payout.models import EVSE, Assignment, Connector, Location
from tests.ocpi.conftest import fixture_json

pytestmark = pytest.mark.django_db


def _run(path, *args):
    out, err = StringIO(), StringIO()
    call_command("import_locations", str(path), *args, stdout=out, stderr=err, verbosity=1)
    return out.getvalue(), err.getvalue()


def _examples():
    return [
        fixture_json("location_example.json"),
        fixture_json("location_example_uc2_destination_charger.json"),
    ]


def test_imports_a_json_list_of_locations(tmp_path):
    path = tmp_path / "locations.json"
    path.write_text(json.dumps(_examples(), indent=2))

    out, _ = _run(path)

    assert "Imported 2 locations (2 new, 0 updated, 0 rejected); EVSEs: 3 new" in out
    assert Location.objects.count() == 2
    assert EVSE.objects.count() == 3
    assert Connector.objects.count() == 4
    assert EVSE.objects.get(uid="3256").output_kw == Decimal("10.56")
    assert not Assignment.objects.exists()


def test_imports_one_object_and_json_lines(tmp_path):
    single = tmp_path / "one.json"
    single.write_text(json.dumps(fixture_json("location_example.json"), indent=2))
    lines = tmp_path / "lines.jsonl"
    lines.write_text("\n".join(json.dumps(location) for location in _examples()) + "\n")

    _run(single)
    out, _ = _run(lines)

    assert "Imported 2 locations (1 new, 1 updated, 0 rejected)" in out
    assert Location.objects.count() == 2


def test_importing_again_changes_nothing(tmp_path):
    path = tmp_path / "locations.json"
    path.write_text(json.dumps(_examples()))
    _run(path)

    out, _ = _run(path)

    assert "(0 new, 2 updated, 0 rejected)" in out
    assert EVSE.objects.count() == 3


def test_rejected_records_are_listed_and_exit_code_is_1(tmp_path):
    bad = fixture_json("location_example.json")
    bad["id"] = "LOC2"
    del bad["city"]
    path = tmp_path / "locations.jsonl"
    path.write_text(
        "\n".join([json.dumps(_examples()[0]), "not json", json.dumps(bad), ""]),
    )

    with pytest.raises(CommandError, match="2 records were rejected"):
        _run(path)

    assert Location.objects.get().location_id == "LOC1"


def test_rejected_records_are_reported_with_line_and_reason(tmp_path):
    path = tmp_path / "locations.jsonl"
    bad = fixture_json("location_example.json")
    del bad["city"]
    path.write_text("\n" + json.dumps(bad) + "\n")
    err = StringIO()

    with pytest.raises(CommandError):
        call_command("import_locations", str(path), stdout=StringIO(), stderr=err)

    assert "Rejected line 2: city: Field required" in err.getvalue()


def test_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "locations.json"
    path.write_text(json.dumps(_examples()))

    out, _ = _run(path, "--dry-run")

    assert out.startswith("Dry run: would import 2 locations (2 new")
    assert not Location.objects.exists()
    assert not EVSE.objects.exists()


def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        _run(tmp_path / "nope.json")
