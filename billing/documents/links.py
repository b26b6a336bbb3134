"""Signed, expiring links to one row: the link names no number and cannot be forged.

The token is `<row id>.<expiry unix seconds>.<HMAC-SHA256>` in URL-safe base64, keyed by the deployment's
secret key with a purpose prefix, so a token made for one purpose (a document download, a deposit's
checkout) never verifies for another. Pure: no database, no web framework.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import uuid

PURPOSE = b"carebook.document-download.v1:"
DEPOSIT_CHECKOUT = b"carebook.deposit-checkout.v1:"
DEFAULT_LIFETIME = dt.timedelta(days=30)


class LinkInvalid(ValueError):
    """The token is malformed, forged or expired."""


class LinkExpired(LinkInvalid):
    """The token is genuine but its time is up; `item_id` is the row it names (a paid deposit's link still leads
    to its confirmation)."""

    def __init__(self, item_id: uuid.UUID) -> None:
        super().__init__("link has expired")
        self.item_id = item_id


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, purpose: bytes, item_id: uuid.UUID, expires: int) -> bytes:
    message = purpose + item_id.bytes + expires.to_bytes(8, "big")
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def make_token(secret: str, purpose: bytes, item_id: uuid.UUID, expires_at: dt.datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{_b64(item_id.bytes)}.{expires}.{_b64(_mac(secret, purpose, item_id, expires))}"


def read_token(secret: str, purpose: bytes, token: str, now: dt.datetime) -> uuid.UUID:
    """The row id a genuine, unexpired token made for `purpose` names; `LinkExpired` when it is genuine but
    past its expiry, `LinkInvalid` otherwise."""
    try:
        id_part, expires_part, mac_part = token.split(".")
        item_id = uuid.UUID(bytes=_unb64(id_part))
        expires = int(expires_part)
        mac = _unb64(mac_part)
    except (ValueError, TypeError, OverflowError) as exc:
        raise LinkInvalid("malformed link") from exc
    if expires < 0 or expires >= 2**63 or not hmac.compare_digest(mac, _mac(secret, purpose, item_id, expires)):
        raise LinkInvalid("link does not verify")
    if now.timestamp() >= expires:
        raise LinkExpired(item_id)
    return item_id


def make_download_token(secret: str, document_id: uuid.UUID, expires_at: dt.datetime) -> str:
    return make_token(secret, PURPOSE, document_id, expires_at)


def read_download_token(secret: str, token: str, now: dt.datetime) -> uuid.UUID:
    """The document id a genuine, unexpired token names; `LinkInvalid` otherwise."""
    return read_token(secret, PURPOSE, token, now)
