"""Signed, expiring download links for one document: the link names no number and cannot be forged.

The token is `<document id>.<expiry unix seconds>.<HMAC-SHA256>` in URL-safe base64, keyed by the
deployment's secret key with a purpose prefix, so a token made for anything else never verifies here.
Pure: no database, no web framework.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import uuid

PURPOSE = b"carebook.document-download.v1:"
DEFAULT_LIFETIME = dt.timedelta(days=30)


class LinkInvalid(ValueError):
    """The token is malformed, forged or expired."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, document_id: uuid.UUID, expires: int) -> bytes:
    message = PURPOSE + document_id.bytes + expires.to_bytes(8, "big")
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def make_download_token(secret: str, document_id: uuid.UUID, expires_at: dt.datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{_b64(document_id.bytes)}.{expires}.{_b64(_mac(secret, document_id, expires))}"


def read_download_token(secret: str, token: str, now: dt.datetime) -> uuid.UUID:
    """The document id a genuine, unexpired token names; `LinkInvalid` otherwise."""
    try:
        id_part, expires_part, mac_part = token.split(".")
        document_id = uuid.UUID(bytes=_unb64(id_part))
        expires = int(expires_part)
        mac = _unb64(mac_part)
    except (ValueError, TypeError) as exc:
        raise LinkInvalid("malformed download link") from exc
    if not hmac.compare_digest(mac, _mac(secret, document_id, expires)):
        raise LinkInvalid("download link does not verify")
    if now.timestamp() >= expires:
        raise LinkInvalid("download link has expired")
    return document_id
