"""Signed links: a token verifies only for the purpose and key it was made with, and says when it merely expired."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from billing.documents.links import (
    DEPOSIT_CHECKOUT,
    PURPOSE,
    LinkExpired,
    LinkInvalid,
    make_download_token,
    make_token,
    read_download_token,
    read_token,
)

SECRET = "unit-test-secret-0123456789"
NOW = dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=50)


def test_a_deposit_link_names_its_payment_until_it_expires() -> None:
    payment = uuid.uuid4()
    token = make_token(SECRET, DEPOSIT_CHECKOUT, payment, LATER)
    assert read_token(SECRET, DEPOSIT_CHECKOUT, token, NOW) == payment
    with pytest.raises(LinkExpired):
        read_token(SECRET, DEPOSIT_CHECKOUT, token, LATER)


def test_a_token_made_for_one_purpose_never_verifies_for_another() -> None:
    row = uuid.uuid4()
    with pytest.raises(LinkInvalid) as deposit_as_download:
        read_download_token(SECRET, make_token(SECRET, DEPOSIT_CHECKOUT, row, LATER), NOW)
    with pytest.raises(LinkInvalid) as download_as_deposit:
        read_token(SECRET, DEPOSIT_CHECKOUT, make_download_token(SECRET, row, LATER), NOW)
    assert not isinstance(deposit_as_download.value, LinkExpired)
    assert not isinstance(download_as_deposit.value, LinkExpired)
    assert read_token(SECRET, PURPOSE, make_download_token(SECRET, row, LATER), NOW) == row


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "!!!.1.abc", "AAAAAAAAAAAAAAAAAAAAAA.-5.AAAA", f"AAAAAAAAAAAAAAAAAAAAAA.{2**70}.AAAA"],
)
def test_a_malformed_token_is_invalid_not_an_error(token: str) -> None:
    with pytest.raises(LinkInvalid) as caught:
        read_token(SECRET, DEPOSIT_CHECKOUT, token, NOW)
    assert not isinstance(caught.value, LinkExpired)


def test_an_expired_token_with_a_forged_signature_is_invalid_not_expired() -> None:
    row = uuid.uuid4()
    ident, expires, _ = make_token(SECRET, DEPOSIT_CHECKOUT, row, NOW - dt.timedelta(minutes=1)).split(".")
    with pytest.raises(LinkInvalid) as caught:
        read_token(SECRET, DEPOSIT_CHECKOUT, f"{ident}.{expires}.AAAA", NOW)
    assert not isinstance(caught.value, LinkExpired)
