"""The OCPI JSON reader refuses what no column can store, also on its fast path, and the content
hash spells numbers one way (a re-sent CDR is recognised whatever its number spelling)."""

from decimal import Decimal

import pytest

from evse_payout.payloads.ocpi import (
    MAX_NESTING,
    OCPIValidationError,
    canonical_json,
    parse_json,
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (r'{"name": "Gent \uD800 Zuid"}', "name: the text contains a lone UTF-16 surrogate"),
        (r'{"name": "Gent \udfff Zuid"}', "name: the text contains a lone UTF-16 surrogate"),
        (r'{"name": "Gent \u0000 Zuid"}', "name: the text contains a NUL character"),
        ('{"name": "Gent \ud800 Zuid"}', "name: the text contains a lone UTF-16 surrogate"),
        ('{"a":' * (MAX_NESTING + 1) + "1" + "}" * (MAX_NESTING + 1), "nested deeper than 32"),
    ],
    ids=["escaped-upper", "escaped-low-half", "escaped-nul", "surrogate-in-text", "too-deep"],
)
def test_unstorable_documents_are_refused(text, reason):
    with pytest.raises(OCPIValidationError, match=reason):
        parse_json(text)


def test_harmless_escapes_and_the_deepest_allowed_nesting_are_read():
    assert parse_json(r'{"city": "Li\u00e8ge", "pair": "\ud83d\ude00"}') == {
        "city": "Liège",
        "pair": "😀",
    }
    deepest = '{"a":' * MAX_NESTING + "1" + "}" * MAX_NESTING
    assert parse_json(deepest)["a"]["a"]["a"] is not None


@pytest.mark.parametrize(
    ("number", "spelled"),
    [
        (15, "15"),
        (Decimal("15.00"), "15"),
        (15.0, "15"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-0.50"), "-0.5"),
        (10**30 + 1, "1000000000000000000000000000000"),  # rounded to 28 digits, as it always was
    ],
)
def test_canonical_json_spells_each_number_one_way(number, spelled):
    assert canonical_json({"b": [number], "a": True}) == f'{{"a":true,"b":["{spelled}"]}}'
