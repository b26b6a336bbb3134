"""The intake questionnaire's use cases: links the desk sends, the client's submission, clinical reads.

A client fills the intake without an account, at a link the desk sends or copies (`create_intake_link`).
Only the link's SHA-256 is stored; the link names the practice and a random token, never a health detail;
it works until it expires or the questionnaire is submitted. The answers are health information: they
are read through `latest_intake` by therapists and owners only (the controllers' guards), and the
schedule learns from `flagged_clients` only *that* a client has contraindications.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.visits import PracticeFacts, long_date
from scheduler.clients.intake_rules import FLAG_LABELS, IntakeAnswers, check_answers, contraindications
from scheduler.clients.models import Client, ClientIntake, ClientIntakeLink
from scheduler.db import begin_write
from scheduler.errors import CarebookError, NotFound
from scheduler.mail import services as mail
from scheduler.practice.models import Practice
from scheduler.practice.services import hash_token

INTAKE_LINK_LIFETIME = dt.timedelta(days=14)


class IntakeLinkInvalid(CarebookError):
    """Unknown, already used or expired: the page says the same for all three."""

    status = 410
    code = "intake_link_invalid"
    title = "This questionnaire link no longer works"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def local_today(practice: Practice, now: dt.datetime | None = None) -> dt.date:
    return (now or utcnow()).astimezone(ZoneInfo(practice.timezone)).date()


def intake_url(base_url: str, practice: Practice, token: str) -> str:
    return f"{base_url.rstrip('/')}/p/{practice.slug}/intake/{token}"


@dataclass(frozen=True)
class IssuedIntakeLink:
    url: str
    expires_at: dt.datetime
    emailed: bool


async def create_intake_link(
    session: AsyncSession,
    practice: Practice,
    client: Client,
    *,
    base_url: str,
    send_email: bool,
    now: dt.datetime | None = None,
) -> IssuedIntakeLink:
    """A fresh link for this client; with `send_email` it is also queued to the client's address."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    expires_at = now + INTAKE_LINK_LIFETIME
    session.add(ClientIntakeLink(client_id=client.id, token_hash=hash_token(token), expires_at=expires_at))
    url = intake_url(base_url, practice, token)
    if send_email:
        body = mail.render(
            "intake_link.txt",
            first_name=client.first_name,
            practice=PracticeFacts.of(practice),
            questionnaire_url=url,
            expires_text=long_date(expires_at.astimezone(ZoneInfo(practice.timezone))),
        )
        await mail.enqueue(
            session,
            to=client.email,
            subject=f"Your questionnaire for {practice.name}",
            body_text=body,
            kind="intake_link",
        )
    await session.flush()
    return IssuedIntakeLink(url=url, expires_at=expires_at, emailed=send_email)


async def _live_link(session: AsyncSession, token: str, now: dt.datetime) -> ClientIntakeLink:
    link = await session.scalar(select(ClientIntakeLink).where(ClientIntakeLink.token_hash == hash_token(token)))
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise IntakeLinkInvalid(
            "This questionnaire link has expired or was already used. Ask the practice for a new one."
        )
    return link


async def client_for_link(session: AsyncSession, token: str, now: dt.datetime | None = None) -> Client:
    """The client a live link is for (the session is scoped to the link's practice by its slug)."""
    link = await _live_link(session, token, now or utcnow())
    client = await session.scalar(select(Client).where(Client.id == link.client_id))
    if client is None:
        raise IntakeLinkInvalid("This questionnaire link has expired or was already used.")
    return client


async def submit_intake(
    session: AsyncSession, practice: Practice, token: str, answers: IntakeAnswers, now: dt.datetime | None = None
) -> ClientIntake:
    """Check the answers, store them and spend the link, all or nothing. A spent link cannot submit twice."""
    now = now or utcnow()
    checked = check_answers(answers, local_today(practice, now))
    await begin_write(session)
    link = await _live_link(session, token, now)
    spent = await session.execute(
        update(ClientIntakeLink)
        .where(ClientIntakeLink.id == link.id, ClientIntakeLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(spent, "rowcount", 0) != 1:
        raise IntakeLinkInvalid("This questionnaire link was already used.")
    intake = ClientIntake(client_id=link.client_id, answers=checked.to_json(), consented_at=now)
    session.add(intake)
    await session.flush()
    return intake


async def latest_intake(session: AsyncSession, client_id: uuid.UUID) -> ClientIntake | None:
    found: ClientIntake | None = await session.scalar(
        select(ClientIntake)
        .where(ClientIntake.client_id == client_id)
        .order_by(ClientIntake.created_at.desc(), ClientIntake.id.desc())
        .limit(1)
    )
    return found


async def get_latest_intake(session: AsyncSession, client_id: uuid.UUID) -> ClientIntake:
    intake = await latest_intake(session, client_id)
    if intake is None:
        raise NotFound("This client has not filled in the intake yet.", field="client_id")
    return intake


def flags_of(intake: ClientIntake, today: dt.date) -> list[str]:
    return contraindications(IntakeAnswers.from_json(intake.answers), today)


def flag_labels(codes: Iterable[str]) -> list[str]:
    return [FLAG_LABELS.get(code, code) for code in codes]


async def flagged_clients(session: AsyncSession, client_ids: Iterable[uuid.UUID], today: dt.date) -> set[uuid.UUID]:
    """Which of these clients' current intakes raise any contraindication (for the schedule's badge)."""
    ids = set(client_ids)
    if not ids:
        return set()
    latest: dict[uuid.UUID, ClientIntake] = {}
    rows = await session.scalars(
        select(ClientIntake).where(ClientIntake.client_id.in_(ids)).order_by(ClientIntake.created_at, ClientIntake.id)
    )
    for intake in rows:
        latest[intake.client_id] = intake
    return {client_id for client_id, intake in latest.items() if flags_of(intake, today)}
