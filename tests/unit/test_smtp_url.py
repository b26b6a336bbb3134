"""CAREBOOK_SMTP_URL as operators write it, and SMTP errors reduced to what may be stored and logged."""

from __future__ import annotations

import smtplib

import pytest

from scheduler.mail.smtp import SmtpUrlInvalid, describe_error, parse_smtp_url


def test_smtp_url_with_starttls_port_credentials_and_sender() -> None:
    target = parse_smtp_url(
        "smtp://mailer%40demo.test:p%40ss%3Aword@mail.example.com:2525?from=bookings@demo.test&timeout=3",
        default_from="no-reply@example.com",
    )
    assert (target.host, target.port, target.implicit_tls) == ("mail.example.com", 2525, False)
    assert (target.username, target.password) == ("mailer@demo.test", "p@ss:word")
    assert target.mail_from == "bookings@demo.test"
    assert target.timeout == 3.0
    assert "p@ss" not in repr(target)
    assert target.describe() == "smtp://mail.example.com:2525"


@pytest.mark.parametrize(("url", "port", "tls"), [("smtp://relay", 587, False), ("smtps://relay", 465, True)])
def test_default_ports_and_sender(url: str, port: int, tls: bool) -> None:
    target = parse_smtp_url(url, default_from="no-reply@example.com")
    assert (target.port, target.implicit_tls, target.username, target.password) == (port, tls, None, None)
    assert target.mail_from == "no-reply@example.com"


@pytest.mark.parametrize(
    "url", ["http://relay:25", "smtp:///nohost", "smtp://relay:notaport", "smtp://relay?timeout=x"]
)
def test_bad_smtp_urls_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(SmtpUrlInvalid) as refused:
        parse_smtp_url(url, default_from="no-reply@example.com")
    assert url not in str(refused.value)


def test_errors_keep_the_class_and_code_never_the_addresses() -> None:
    refused = smtplib.SMTPRecipientsRefused({"ann@example.test": (550, b"no such user ann@example.test")})
    assert describe_error(refused) == "SMTPRecipientsRefused"
    assert describe_error(smtplib.SMTPDataError(554, b"rejected for ann@example.test")) == "SMTPDataError 554"
    assert describe_error(ConnectionRefusedError(111, "Connection refused")) == "ConnectionRefusedError 111"
