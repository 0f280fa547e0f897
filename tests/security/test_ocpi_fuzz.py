"""Hostile OCPI input (issue 7.3): whatever a peer sends, the receiver answers with the OCPI
envelope, never a 5xx, and stores nothing when it refuses.

Five hypothesis tests, 10,000+ generated requests in all: random JSON to every endpoint,
mutations of valid CDRs, mutations of valid locations and EVSEs, raw requests (methods,
paths, tokens, content types, bytes), and a second peer of another party whose requests must
leave the first party's data untouched. The token and a known location are made once per test.
"""

import copy
import json
import re
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evse_payout.models import CDR, Assignment, AuditEvent, Connector, Location
from evse_payout.models import EVSE as EVSEModel
from evse_payout.services.ocpi_tokens import create_ocpi_token
from tests.factories import AssignmentFactory, ocpi_cdr_payload

from .conftest import assert_ocpi_envelope, fixture_json, row_counts, token_header

pytestmark = pytest.mark.django_db

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LOCATION = "/ocpi/2.2.1/locations/BE/BEC/LOC1"
EVSE = f"{LOCATION}/3256"
CDRS = "/ocpi/2.2.1/cdrs"

# Numbers Python's json module cannot write: spliced into the JSON text in place of a marker.
RAW_NUMBERS = [
    "1e308", "-1e308", "1e309", "1e400", "-1e400", "1e-400", "10" + "0" * 400, "-0",
    "123456789012345678901234567890.123456789", "0.00000000000000000000001", "1E+999999999",
    "4.9e-324", "9" * 5000,
]  # fmt: skip
_MARKER = re.compile(r'"\\u0000(raw|deep):([^"]*)"')


def _raw_number(text: str) -> str:
    return "\u0000raw:" + text


def _deep(depth: int) -> str:
    """Lists and objects nested `depth` levels deep (spliced into the text: no Python recursion)."""
    return f"\u0000deep:{depth}"


def _splice(match) -> str:
    kind, text = match.groups()
    if kind == "raw":
        return text
    depth = int(text)
    opening = "".join('{"a":' if level % 2 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return opening + '"x"' + closing


def dumps(value, *, ascii_only: bool = True) -> bytes:
    """The JSON text of `value`, the markers replaced by raw numbers or deep nesting.

    With `ascii_only=False` the text is raw UTF-8, and a lone surrogate goes out as the bytes a
    careless peer would send (not valid UTF-8).
    """
    text = _MARKER.sub(_splice, json.dumps(value, ensure_ascii=ascii_only))
    return text.encode("utf-8", errors="surrogatepass")


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.text(alphabet=st.characters(codec="utf-8"), min_size=40, max_size=300)
    | st.sampled_from(["", "\u0000", "\ud800", "<script>alert(1)</script>", "’ OR 1=1 --",
                      "2026-13-45T25:61:61Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                      "BE*BEC*E041503003", "AC_3_PHASE", "REMOVED", "EUR", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\u202e"])
    | st.sampled_from(RAW_NUMBERS).map(_raw_number)
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


deep_values = st.integers(min_value=20, max_value=2000).map(_deep)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@st.composite
def mutated(draw, base):
    """A valid payload with one to four fields replaced, deleted or joined by junk."""
    payload = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [path for path in _paths(payload) if path]
        if not paths:
            break
        *parents, leaf = draw(st.sampled_from(paths))
        target = payload
        for key in parents:
            target = target[key]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "deep"]))
        if action == "replace":
            target[leaf] = draw(json_values)
        elif action == "deep":
            target[leaf] = draw(deep_values)
        elif action == "delete":
            del target[leaf]
        elif isinstance(target, dict):
            target[draw(st.text(max_size=12))] = draw(json_values)
        else:
            target.insert(draw(st.integers(0, len(target))), draw(json_values))
    return payload


def _send(client, method: str, path: str, body: str | bytes, authorization: str, **extra):
    return client.generic(
        method,
        path,
        data=body,
        content_type=extra.pop("content_type", "application/json"),
        headers={"Authorization": authorization} if authorization else {},
        **extra,
    )


def _check(client, method, path, body, authorization, **extra) -> dict:
    before = row_counts()
    response = _send(client, method, path, body, authorization, **extra)
    if method == "HEAD":
        assert response.status_code < 500
        return {}
    result = assert_ocpi_envelope(response)
    if result["status_code"] != 1000:
        assert row_counts() == before, (method, path, result)
    return result


@pytest.fixture
def ocpi_peer(client, ocpi_secret):
    """A client with a valid token header and the location LOC1 (EVSE 3256) already known."""
    authorization = token_header(ocpi_secret)
    response = _send(client, "PUT", LOCATION, json.dumps(fixture_json("location_example.json")),
                     authorization)  # fmt: skip
    assert response.status_code == 200, response.content
    return client, authorization


ENDPOINTS = [
    ("POST", CDRS),
    ("PUT", LOCATION),
    ("PATCH", LOCATION),
    ("PUT", EVSE),
    ("PATCH", EVSE),
    ("PUT", "/ocpi/2.2.1/locations/BE/BEC/NEWLOC"),
    ("PUT", "/ocpi/2.2.1/locations/BE/BEC/NEWLOC/NEWEVSE"),
]


@settings(FUZZ, max_examples=3500)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    value=json_values | deep_values,
    ascii_only=st.booleans(),
)
def test_random_json_never_breaks_an_endpoint(ocpi_peer, endpoint, value, ascii_only):
    client, authorization = ocpi_peer
    method, path = endpoint
    _check(client, method, path, dumps(value, ascii_only=ascii_only), authorization)


def _id_as_stored(value) -> str:
    """A number sent for the id is kept as the text of its exact value: 1e16 is read as the
    decimal 1E+16 (floats are parsed as Decimal), not as Python's float text `1e+16`."""
    if isinstance(value, float):
        return str(Decimal(json.dumps(value)))
    return str(value)


@settings(FUZZ, max_examples=2500)
@given(
    payload=mutated(ocpi_cdr_payload()),
    cdr_id=st.sampled_from(["CDR1", "CDR2", None]),
    ascii_only=st.booleans(),
)
def test_mutated_cdrs_are_stored_whole_or_refused(ocpi_peer, payload, cdr_id, ascii_only):
    client, authorization = ocpi_peer
    if cdr_id and "id" in payload:
        payload["id"] = cdr_id
    result = _check(client, "POST", CDRS, dumps(payload, ascii_only=ascii_only), authorization)
    if result["status_code"] == 1000:
        stored = _send(client, "GET", f"{CDRS}/{quote(_id_as_stored(payload['id']), safe='')}",
                       "", authorization)  # fmt: skip
        assert assert_ocpi_envelope(stored)["status_code"] == 1000


_LOCATION = fixture_json("location_example.json")
_EVSE = _LOCATION["evses"][0]


@settings(FUZZ, max_examples=1500)
@given(
    target=st.sampled_from(
        [
            ("PUT", LOCATION, _LOCATION),
            ("PATCH", LOCATION, _LOCATION),
            ("PUT", EVSE, _EVSE),
            ("PATCH", EVSE, _EVSE),
            ("PATCH", EVSE, {"status": "CHARGING"}),
        ]  # fmt: skip
    ),
    data=st.data(),
    ascii_only=st.booleans(),
)
def test_mutated_locations_and_evses_are_applied_whole_or_refused(
    ocpi_peer, target, data, ascii_only
):
    client, authorization = ocpi_peer
    method, path, base = target
    payload = data.draw(mutated(base))
    _check(client, method, path, dumps(payload, ascii_only=ascii_only), authorization)


def _segment(text: str) -> str:
    return quote(text, safe="")


url_segments = st.text(max_size=50).map(_segment) | st.sampled_from(
    ["BE", "BEC", "LOC1", "3256", "..", ".", "%FF", "%00", "%2F", "x" * 300]
)
paths = st.one_of(
    st.just(CDRS),
    st.just(CDRS + "/"),
    st.builds(lambda cdr: f"{CDRS}/{cdr}", url_segments),
    st.builds(lambda *parts: "/ocpi/2.2.1/locations/" + "/".join(parts),
              url_segments, url_segments, url_segments),
    st.builds(lambda *parts: "/ocpi/2.2.1/locations/" + "/".join(parts),
              url_segments, url_segments, url_segments, url_segments),
    st.builds(lambda rest: "/ocpi/2.2.1/" + rest, url_segments),
    st.sampled_from([LOCATION, EVSE, "/ocpi/2.2.1/", "/ocpi/2.2.1/locations/BE/BEC"]),
)  # fmt: skip
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=80,
)
bad_authorizations = st.one_of(
    st.just(""),
    st.just("Token"),
    st.just("Token "),
    header_text,
    header_text.map(lambda text: "Token " + text),
    header_text.map(lambda text: "Bearer " + text),
    st.just("Token " + "A" * 10_000),
    st.just("Token " + "=" * 600),
    st.just("Token dG9rZW4="),  # base64 of a token nobody holds
    st.binary(max_size=40).map(lambda raw: "Token " + raw.hex()),
)
content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "application/json; charset=latin-1",
     "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/vnd.ocpi+json", "", "*/*", "application/xml", "json"]
)  # fmt: skip
bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"\xff\xfe{}", b"\xc3\x28", b'{"id": "\xe9"}', b"\x00", b"{}", b"[]",
                     b"null", b'"\\ud800"', b"a=1&b=2", b"--x\r\n\r\n--x--"]),
    json_values.map(dumps),
    # Around the body limit: whitespace after a valid JSON object.
    st.sampled_from([-1, 0, 1, 100]).map(
        lambda extra: b"{}" + b" " * (django_settings.OCPI_MAX_BODY_BYTES - 2 + extra)
    ),
)  # fmt: skip


@settings(FUZZ, max_examples=2500)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]),
    path=paths,
    token=st.sampled_from(["valid", "valid-raw", "bad"]),
    bad_authorization=bad_authorizations,
    content_type=content_types,
    body=bodies,
)
def test_raw_requests_are_answered_in_the_envelope(
    ocpi_peer, ocpi_secret, method, path, token, bad_authorization, content_type, body
):
    client, authorization = ocpi_peer
    if token == "valid-raw":
        authorization = "Token " + ocpi_secret
    elif token == "bad":
        authorization = bad_authorization
    result = _check(client, method, path, body, authorization, content_type=content_type)
    if token == "bad" and result:
        assert result["status_code"] != 1000


# -- A second peer of another party ------------------------------------------------------------

STRANGER_PATHS = [
    ("POST", CDRS),
    ("PUT", LOCATION),
    ("PATCH", LOCATION),
    ("PUT", EVSE),
    ("PATCH", EVSE),
    ("PUT", "/ocpi/2.2.1/locations/BE/BEC/NEWLOC"),
    ("PUT", "/ocpi/2.2.1/locations/be/bec/LOC2"),
    ("PUT", "/ocpi/2.2.1/locations/NL/ALF/LOC1"),
    ("PUT", "/ocpi/2.2.1/locations/NL/ALF/LOC1/3256"),
    ("GET", f"{CDRS}/CDR-BE"),
]


def first_party_snapshot() -> str:
    """Everything of party BE/BEC, as text: its locations, EVSEs, connectors, assignments, CDRs,
    and the audit rows (a stranger's request must not add one about BE/BEC either)."""
    party = {"country_code": "BE", "party_id": "BEC"}
    rows = [
        list(Location.objects.filter(**party).order_by("pk").values()),
        list(EVSEModel.objects.filter(**party).order_by("pk").values()),
        list(Connector.objects.filter(evse__party_id="BEC").order_by("pk").values()),
        list(Assignment.objects.order_by("pk").values()),
        list(CDR.objects.filter(**party).order_by("pk").values()),
        list(AuditEvent.objects.order_by("pk").values()),
    ]
    return json.dumps(rows, default=str, sort_keys=True)


@pytest.fixture
def stranger(ocpi_peer):
    """The first peer (BE/BEC) owns LOC1 with EVSE 3256 assigned and CDR-BE; a second token
    speaks only for NL/ALF."""
    client, authorization = ocpi_peer
    AssignmentFactory(evse=EVSEModel.objects.get(uid="3256"))
    body = json.dumps(ocpi_cdr_payload(id="CDR-BE"))
    assert _send(client, "POST", CDRS, body, authorization).status_code == 200
    secret = create_ocpi_token(name="Stranger", parties=["NL/ALF"]).secret
    return client, token_header(secret)


party_fields = st.sampled_from(
    [("BE", "BEC"), ("be", "bec"), ("NL", "ALF"), (None, None), ("BE", "ALF"), ("NL", "BEC")]
)


@settings(FUZZ, max_examples=800)
@given(
    endpoint=st.sampled_from(STRANGER_PATHS),
    base=st.sampled_from([ocpi_cdr_payload(id="CDR-BE"), _LOCATION, _EVSE]),
    party=party_fields,
    data=st.data(),
)
def test_a_peer_of_another_party_changes_nothing_of_the_first(
    stranger, endpoint, base, party, data
):
    client, authorization = stranger
    method, path = endpoint
    payload = data.draw(st.one_of(st.just(copy.deepcopy(base)), mutated(base)))
    if isinstance(payload, dict) and party[0] is not None:
        payload["country_code"], payload["party_id"] = party
    before = first_party_snapshot()

    response = _send(client, method, path, dumps(payload), authorization)

    body = assert_ocpi_envelope(response)
    assert first_party_snapshot() == before, (method, path, body)
    if method == "GET" and body["data"] is not None:
        # Only a CDR the stranger stored itself under the same id, never the first party's.
        assert (body["data"]["country_code"], body["data"]["party_id"]) == ("NL", "ALF")
