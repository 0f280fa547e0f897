"""OCPI peer credentials: created here, stored only as their SHA-256, checked on every request."""

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import AuditAction, OCPIToken
from .audit import record_audit_event


class OCPITokenError(Exception):
    """The token could not be created; the message says why."""


@dataclass(frozen=True)
class CreatedToken:
    token: OCPIToken
    secret: str  # shown once; only its hash is stored


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_ocpi_token(*, name: str, actor=None, actor_name: str = "") -> CreatedToken:
    name = name.strip()
    if not name:
        raise OCPITokenError("Give the token a name (the peer it is for).")
    secret = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = OCPIToken.objects.create(name=name, token_hash=hash_token(secret))
            record_audit_event(
                action=AuditAction.OCPI_TOKEN_CREATE,
                actor=actor,
                actor_name=actor_name,
                object_count=1,
                summary=f"Created OCPI token “{name}”",
            )
    except IntegrityError as exc:
        raise OCPITokenError(f"An OCPI token named “{name}” already exists.") from exc
    return CreatedToken(token=token, secret=secret)


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
    """The active token an `Authorization: Token …` header carries, or None; marks it used."""
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "token" or not credential or len(credential) > 512:
        return None
    hashes = {hash_token(candidate): candidate for candidate in _candidates(credential)}
    for token in OCPIToken.objects.filter(token_hash__in=hashes, is_active=True):
        if any(hmac.compare_digest(token.token_hash, digest) for digest in hashes):
            OCPIToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
            return token
    return None
