"""Outbound e-mail through the outbox: enqueue in the caller's transaction, render text bodies, send later.

A use case that tells a client something calls `enqueue` (or `render` + `enqueue`) inside its own unit of
work, so the message exists exactly when the change it reports was committed. `send_pending` delivers
what is waiting over SMTP when `CAREBOOK_SMTP_URL` is set, and otherwise leaves it in the outbox, where
an owner reads it on /staff/outbox. Nothing here logs a body, an address or a credential.

A message about a visit held for its online deposit is queued `held_for` that visit: it is written (and
rendered, with the manage link only the booking request knows) with the booking, but no sender takes it
until `release_held` runs in the transaction that fulfils the deposit; `drop_held` deletes it once no
payment can come. So the client hears "booked" exactly when the visit is paid for, and never otherwise.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from scheduler.db import begin_write, unscoped
from scheduler.errors import NotFound
from scheduler.mail import smtp
from scheduler.mail.models import OutboxMessage
from scheduler.practice.models import Practice
from scheduler.settings import TEMPLATES_DIR, Settings

logger = logging.getLogger("carebook.mail")

# A claimed message that is neither sent nor failed within this time is tried again (its sender died).
RETRY_AFTER = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 12
ENQUEUED_KEY = "outbox_enqueued"

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    # Plain-text mail is not HTML: escaping would print "&amp;" in a practice's name.
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: str  # text attachments only (the .ics); the JSON column stores them as they are

    def as_json(self) -> dict[str, Any]:
        return {"filename": self.filename, "content_type": self.content_type, "content": self.content}


def render(template_name: str, **context: Any) -> str:
    """Render `templates/emails/<template_name>`; a missing variable is an error, never a blank."""
    return _templates.get_template(f"emails/{template_name}").render(**context)


def _one_line(text: str, limit: int) -> str:
    # Header injection: a subject is one line, whatever a practice or service is called.
    return " ".join(text.split())[:limit]


async def enqueue(
    session: AsyncSession,
    *,
    to: str,
    subject: str,
    body_text: str,
    kind: str,
    attachments: Sequence[Attachment] = (),
    practice_id: uuid.UUID | None = None,
    held_for: uuid.UUID | None = None,
) -> OutboxMessage:
    """Add a message to the outbox in the caller's transaction (the caller commits, or nothing is sent).

    `held_for` names a visit whose deposit is not paid yet: the message waits for `release_held`."""
    message = OutboxMessage(
        to_address=_one_line(to, 254),
        subject=_one_line(subject, 200),
        body_text=body_text,
        kind=kind,
        attachments=[a.as_json() for a in attachments],
        attempts=0,
        last_error="",
        held_for_appointment_id=held_for,
    )
    if practice_id is not None:
        message.practice_id = practice_id
    session.add(message)
    await session.flush()
    if held_for is None:
        session.sync_session.info[ENQUEUED_KEY] = True
    return message


async def release_held(session: AsyncSession, appointment_id: uuid.UUID) -> int:
    """Let the messages held for this visit go out, in the caller's transaction; how many were released."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.held_for_appointment_id == appointment_id)
        .values(held_for_appointment_id=None)
        .execution_options(synchronize_session=False)
    )
    released = int(getattr(result, "rowcount", 0) or 0)
    if released:
        session.sync_session.info[ENQUEUED_KEY] = True
    return released


async def drop_held(session: AsyncSession, appointment_ids: Sequence[uuid.UUID]) -> None:
    """Delete the messages held for these visits: their deposit will never be paid, so they are never sent."""
    if appointment_ids:
        await session.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.held_for_appointment_id.in_(appointment_ids))
            .execution_options(synchronize_session=False)
        )


# -- after commit: tell this process there is something to send ------------------------------------------

_pending_in_process = {"flag": False}


@event.listens_for(Session, "after_commit")
def _note_committed_mail(session: Session) -> None:
    # A savepoint's end is not the transaction's: the mail is committed (or not) with the outermost one.
    if not session.in_nested_transaction() and session.info.pop(ENQUEUED_KEY, False):
        _pending_in_process["flag"] = True


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back_mail(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(ENQUEUED_KEY, None)


def take_committed_flag() -> bool:
    """True (once) when a transaction in this process committed mail since the last call."""
    flag = _pending_in_process["flag"]
    _pending_in_process["flag"] = False
    return flag


# -- reading the outbox (the owner's page, the CLI) ------------------------------------------------------


async def list_messages(session: AsyncSession, limit: int = 200) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)
    return list(await session.scalars(stmt))


async def get_message(session: AsyncSession, message_id: uuid.UUID) -> OutboxMessage:
    message = await session.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id))
    if message is None:
        raise NotFound("No such message.", field="message_id")
    return message


async def count_unsent(session: AsyncSession) -> int:
    """Unsent messages in every practice (system use: the CLI)."""
    with unscoped(session):
        count = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.held_for_appointment_id.is_(None))
        )
    return int(count or 0)


# -- sending ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendReport:
    configured: bool
    sent: int = 0
    failed: int = 0


def smtp_target(settings: Settings) -> smtp.SmtpTarget | None:
    if not settings.smtp_url:
        return None
    host = urlsplit(settings.base_url).hostname or "localhost"
    return smtp.parse_smtp_url(settings.smtp_url, default_from=f"no-reply@{host}")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _claim(session: AsyncSession, limit: int, now: dt.datetime) -> list[OutboxMessage]:
    """Take up to `limit` due messages for this sender.

    Each claim is a compare-and-set on `attempts` that also stamps `updated_at`, committed at once: two
    senders (two app processes, or the app and `carebook outbox send`) never both take one message, and
    no lock is held while SMTP talks. A claim whose sender died is due again after RETRY_AFTER.
    """
    with unscoped(session):
        candidates = list(
            await session.execute(
                select(OutboxMessage.id, OutboxMessage.attempts)
                .where(
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.held_for_appointment_id.is_(None),
                    OutboxMessage.attempts < MAX_ATTEMPTS,
                    (OutboxMessage.attempts == 0) | (OutboxMessage.updated_at <= now - RETRY_AFTER),
                )
                .order_by(OutboxMessage.created_at)
                .limit(limit)
            )
        )
        if not candidates:
            return []
        # The read above must not be upgraded to a write on SQLite (another writer may have committed
        # since); the claims run in a transaction that takes the write lock first.
        await begin_write(session)
        claimed: list[uuid.UUID] = []
        for message_id, attempts in candidates:
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message_id,
                    OutboxMessage.attempts == attempts,
                    OutboxMessage.sent_at.is_(None),
                    OutboxMessage.held_for_appointment_id.is_(None),
                )
                .values(attempts=attempts + 1, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 1:
                claimed.append(message_id)
        await session.commit()
        if not claimed:
            return []
        return list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_(claimed)).order_by(OutboxMessage.created_at)
            )
        )


async def _envelopes(session: AsyncSession, messages: list[OutboxMessage]) -> list[smtp.Envelope]:
    practice_ids = {m.practice_id for m in messages}
    practices = {p.id: p for p in await session.scalars(select(Practice).where(Practice.id.in_(practice_ids)))}
    envelopes = []
    for message in messages:
        practice = practices.get(message.practice_id)
        envelopes.append(
            smtp.Envelope(
                key=message.id,
                message_id=f"<{message.id}@carebook>",
                sender_name=practice.name if practice else "",
                reply_to=practice.email if practice else "",
                to=message.to_address,
                subject=message.subject,
                body_text=message.body_text,
                attachments=list(message.attachments or []),
            )
        )
    return envelopes


async def send_pending(config: SQLAlchemyAsyncConfig, settings: Settings, limit: int = 50) -> SendReport:
    """Deliver up to `limit` waiting messages over SMTP; without `CAREBOOK_SMTP_URL` do nothing at all.

    Runs in its own sessions (never the request's) and commits per step, so a slow or failing mail
    server delays mail, never a booking.
    """
    target = smtp_target(settings)
    if target is None:
        return SendReport(configured=False)
    now = _utcnow()
    async with config.get_session() as session:
        messages = await _claim(session, limit, now)
        if not messages:
            return SendReport(configured=True)
        envelopes = await _envelopes(session, messages)
        await session.commit()
        results = await asyncio.to_thread(smtp.deliver, target, envelopes)
        sent_at = _utcnow()
        sent = failed = 0
        with unscoped(session):
            for message_id, error in results.items():
                values: dict[str, Any] = {"updated_at": sent_at}
                if error is None:
                    values |= {"sent_at": sent_at, "last_error": ""}
                    sent += 1
                else:
                    values["last_error"] = error[:500]
                    failed += 1
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message_id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            await session.commit()
    if failed:
        reasons = sorted({e for e in results.values() if e})
        logger.warning("outbox: %d sent, %d failed via %s (%s)", sent, failed, target.describe(), ", ".join(reasons))
    else:
        logger.info("outbox: %d sent via %s", sent, target.describe())
    return SendReport(configured=True, sent=sent, failed=failed)
