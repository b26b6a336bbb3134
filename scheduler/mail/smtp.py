"""The SMTP adapter: parse `CAREBOOK_SMTP_URL`, build MIME messages, deliver a batch with `smtplib`.

Blocking by nature (the standard library speaks SMTP synchronously), so the outbox sender runs
`deliver` in a worker thread. Errors are reduced to short, address-free descriptions before they are
stored or logged: `smtplib` exception texts can quote recipients and server replies verbatim.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_TIMEOUT_SECONDS = 10.0


class SmtpUrlInvalid(ValueError):
    """CAREBOOK_SMTP_URL is not smtp://… or smtps://…"""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool  # smtps://
    username: str | None
    password: str | None = field(repr=False)
    mail_from: str
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def describe(self) -> str:
        """For logs and the CLI: never the credentials."""
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"


def parse_smtp_url(url: str, *, default_from: str) -> SmtpTarget:
    """`smtp://user:pass@host:587` (STARTTLS when the server offers it) or `smtps://…:465` (TLS from the start).

    The query may carry `from=bookings@example.com` (the envelope and header sender) and `timeout=SECONDS`.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise SmtpUrlInvalid("CAREBOOK_SMTP_URL must look like smtp://user:password@host:port or smtps://…")
    query = parse_qs(parts.query)
    implicit_tls = parts.scheme == "smtps"
    try:
        port = parts.port or (465 if implicit_tls else 587)
        timeout = float(query.get("timeout", [DEFAULT_TIMEOUT_SECONDS])[0])
    except ValueError:
        raise SmtpUrlInvalid("CAREBOOK_SMTP_URL has an invalid port or timeout") from None
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        implicit_tls=implicit_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        mail_from=query.get("from", [default_from])[0],
        timeout=timeout,
    )


@dataclass(frozen=True)
class Envelope:
    """One outbox message, ready to go: `key` identifies it to the caller, never the addresses."""

    key: Any
    message_id: str
    sender_name: str
    reply_to: str
    to: str
    subject: str
    body_text: str
    attachments: list[dict[str, Any]]


def build_message(envelope: Envelope, mail_from: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((envelope.sender_name, mail_from)) if envelope.sender_name else mail_from
    message["To"] = envelope.to
    if envelope.reply_to:
        message["Reply-To"] = envelope.reply_to
    message["Subject"] = envelope.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    # Stable per outbox row: a retry after a lost reply is recognisably the same message.
    message["Message-ID"] = envelope.message_id
    message.set_content(envelope.body_text)
    for attachment in envelope.attachments:
        maintype, _, subtype = str(attachment.get("content_type", "text/plain")).partition("/")
        content = str(attachment.get("content", ""))
        filename = str(attachment.get("filename", "attachment.txt"))
        if maintype == "text":
            message.add_attachment(content, subtype=subtype or "plain", filename=filename)
        else:
            message.add_attachment(content.encode(), maintype=maintype, subtype=subtype, filename=filename)
    return message


def describe_error(exc: BaseException) -> str:
    """A short reason without addresses or server text: the exception's class and the SMTP code, if any."""
    name = type(exc).__name__
    code = getattr(exc, "smtp_code", None)
    if code is None and isinstance(exc, OSError) and exc.errno is not None:
        code = exc.errno
    return f"{name} {code}" if code is not None else name


def _connect(target: SmtpTarget) -> smtplib.SMTP:
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if target.implicit_tls:
        client = smtplib.SMTP_SSL(target.host, target.port, timeout=target.timeout, context=context)
        client.ehlo()
    else:
        client = smtplib.SMTP(target.host, target.port, timeout=target.timeout)
        client.ehlo()
        if client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
    if target.username:
        client.login(target.username, target.password or "")
    return client


def deliver(target: SmtpTarget, envelopes: list[Envelope]) -> dict[Any, str | None]:
    """Send each envelope over one connection; the result maps each key to None (sent) or an error description.

    A failure to connect or sign in fails the whole batch; a refused message fails only itself.
    """
    results: dict[Any, str | None] = {}
    try:
        client = _connect(target)
    except (smtplib.SMTPException, OSError) as exc:
        reason = describe_error(exc)
        return dict.fromkeys((e.key for e in envelopes), reason)
    try:
        for envelope in envelopes:
            try:
                client.send_message(build_message(envelope, target.mail_from), from_addr=target.mail_from)
            except smtplib.SMTPServerDisconnected as exc:
                results[envelope.key] = describe_error(exc)
                break
            except (smtplib.SMTPException, OSError, ValueError) as exc:
                results[envelope.key] = describe_error(exc)
                try:
                    client.rset()
                except (smtplib.SMTPException, OSError):
                    break
            else:
                results[envelope.key] = None
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
    for envelope in envelopes:
        results.setdefault(envelope.key, "SMTPServerDisconnected")
    return results
