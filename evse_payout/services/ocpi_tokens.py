"""OCPI peer credentials: created here, stored only as their SHA-256, checked on every request."""

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import AuditAction, OCPIPartyRole, OCPIToken, OCPITokenParty
from .audit import record_audit_event

# OCPI 2.2.1: country_code is ISO 3166-1 alpha-2, party_id three characters (ISO 15118 style).
PARTY_PATTERN = re.compile(r"^([A-Z]{2})[/*]?([A-Z0-9]{3})$")


class OCPITokenError(Exception):
    """The token could not be created; the message says why."""


@dataclass(frozen=True)
class CreatedToken:
    token: OCPIToken
    secret: str  # shown once; only its hash is stored


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_party(text: str) -> tuple[str, str]:
    """`BE/BEC` (or `BE*BEC`, `BEBEC`, any case) → ("BE", "BEC"); OCPITokenError otherwise."""
    match = PARTY_PATTERN.match(text.strip().upper())
    if match is None:
        raise OCPITokenError(
            f"“{text}” is not an OCPI party: write COUNTRY_CODE/PARTY_ID, e.g. BE/BEC."
        )
    return match.group(1), match.group(2)


def _party_set(parties: Iterable[str | tuple[str, str]]) -> list[tuple[str, str]]:
    keys = {parse_party(p if isinstance(p, str) else "/".join(p)) for p in parties}
    return sorted(keys)


def _party_rows(token: OCPIToken, parties: list[tuple[str, str]]) -> list[OCPITokenParty]:
    return [
        OCPITokenParty(
            token=token, country_code=country_code, party_id=party_id, role=OCPIPartyRole.CPO
        )
        for country_code, party_id in parties
    ]


def _labels(parties: Iterable[tuple[str, str]]) -> str:
    return ", ".join("/".join(party) for party in parties) or "none"


def create_ocpi_token(
    *,
    name: str,
    parties: Iterable[str | tuple[str, str]] = (),
    actor=None,
    actor_name: str = "",
) -> CreatedToken:
    """A new token that may speak for `parties` (`"BE/BEC"` or `("BE", "BEC")`, role CPO).

    A token without parties authenticates but may do nothing until it is given some.
    """
    name = name.strip()
    if not name:
        raise OCPITokenError("Give the token a name (the peer it is for).")
    keys = _party_set(parties)
    secret = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = OCPIToken.objects.create(name=name, token_hash=hash_token(secret))
            OCPITokenParty.objects.bulk_create(_party_rows(token, keys))
            record_audit_event(
                action=AuditAction.OCPI_TOKEN_CREATE,
                actor=actor,
                actor_name=actor_name,
                object_count=1,
                summary=f"Created OCPI token “{name}” for parties {_labels(keys)}",
                details={"parties": [_labels([key]) for key in keys]},
            )
    except IntegrityError as exc:
        raise OCPITokenError(f"An OCPI token named “{name}” already exists.") from exc
    return CreatedToken(token=token, secret=secret)


def set_ocpi_token_parties(
    *, token: OCPIToken, parties: Iterable[str | tuple[str, str]], actor=None, actor_name: str = ""
) -> list[tuple[str, str]]:
    """Replace the parties a token may speak for; audited. Returns the parties it now holds."""
    keys = _party_set(parties)
    with transaction.atomic():
        locked = OCPIToken.objects.select_for_update().get(pk=token.pk)
        before = sorted(locked.party_keys())
        if before == keys:
            return keys
        locked.parties.all().delete()
        OCPITokenParty.objects.bulk_create(_party_rows(locked, keys))
        record_audit_event(
            action=AuditAction.OCPI_TOKEN_PARTIES,
            actor=actor,
            actor_name=actor_name,
            object_count=1,
            summary=f"OCPI token “{locked.name}” parties: {_labels(before)} → {_labels(keys)}",
            details={
                "before": [_labels([k]) for k in before],
                "after": [_labels([k]) for k in keys],
            },
        )
    return keys


def _candidates(credential: str) -> list[str]:
    """OCPI 2.2.1 sends the token base64-encoded; earlier peers send it as it is."""
    candidates = [credential]
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if decoded and decoded != credential:
        candidates.append(decoded)
    return candidates


def authenticate_ocpi_token(*, authorization: str) -> OCPIToken | None:
    """The active token an `Authorization: Token …` header carries, or None; marks it used.

    Its parties come prefetched: `token.party_keys()` costs no further query.
    """
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "token" or not credential or len(credential) > 512:
        return None
    hashes = {hash_token(candidate): candidate for candidate in _candidates(credential)}
    tokens = OCPIToken.objects.filter(token_hash__in=hashes, is_active=True)
    for token in tokens.prefetch_related("parties"):
        if any(hmac.compare_digest(token.token_hash, digest) for digest in hashes):
            OCPIToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
            return token
    return None
