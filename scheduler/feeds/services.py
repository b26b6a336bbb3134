"""Loading a feed's read model from the database, and the per-process cache of built feeds.

What each feed shows (spec ical-feeds.md, "Privacy"): the therapist's feed "Appointment" + the client's
initials and the service, with the room as LOCATION; the client's feed a discreet "Massage appointment" at
the practice's address; a room's feed "Booked". Nothing is read from intake, plans or notes, and no
e-mail or phone number, so none of it can reach Google's, Microsoft's or Apple's servers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, or_, select, true, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import NullType

from scheduler.booking.models import LIVE_STATUSES, Appointment, AppointmentEvent, AppointmentSeries
from scheduler.clients.models import Client
from scheduler.db import begin_single_read, scope_session
from scheduler.errors import NotFound
from scheduler.feeds.build import build_calendar
from scheduler.feeds.model import FeedCalendar, FeedEvent, FeedOccurrence, FeedSeries
from scheduler.feeds.models import FeedOwnerKind, FeedToken
from scheduler.feeds.tokens import hash_feed_token
from scheduler.practice.models import Practice, Room, Service, Therapist

WINDOW_BACK = dt.timedelta(days=90)
WINDOW_AHEAD = dt.timedelta(days=400)
CLIENT_TITLE = "Massage appointment"
ROOM_TITLE = "Booked"
_LIVE = frozenset(s.value for s in LIVE_STATUSES)


@dataclass(frozen=True, slots=True)
class BuiltFeed:
    body: bytes
    etag: str  # strong: quoted SHA-256 of the body
    last_modified: dt.datetime  # aware UTC, whole seconds


@dataclass(frozen=True, slots=True)
class FeedOwner:
    """Whose feed a live token opens (read as plain columns: the 304 path is one light query)."""

    token_id: uuid.UUID
    practice_id: uuid.UUID
    owner_kind: FeedOwnerKind
    owner_id: uuid.UUID
    issued_at: dt.datetime


def window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    return now - WINDOW_BACK, now + WINDOW_AHEAD


def _owner_columns(kind: FeedOwnerKind) -> tuple[Any, Any]:
    """The appointment and series columns naming the feed's owner."""
    if kind is FeedOwnerKind.THERAPIST:
        return Appointment.therapist_id, AppointmentSeries.therapist_id
    if kind is FeedOwnerKind.CLIENT:
        return Appointment.client_id, AppointmentSeries.client_id
    return Appointment.room_id, AppointmentSeries.room_id


def _newest_change(model: Any) -> Any:
    return (
        select(func.max(model.updated_at))
        .where(model.practice_id == FeedToken.practice_id)
        .correlate(FeedToken)
        .scalar_subquery()
    )


_FINGERPRINT = select(
    FeedToken.id,
    FeedToken.practice_id,
    FeedToken.owner_kind,
    FeedToken.owner_id,
    FeedToken.created_at,
    FeedToken.token_hash,
    FeedToken.revoked_at,
    _newest_change(Appointment),
    _newest_change(AppointmentSeries),
    _newest_change(Client),
    _newest_change(Service),
    _newest_change(Room),
    _newest_change(Therapist),
    select(Practice.updated_at).where(Practice.id == FeedToken.practice_id).scalar_subquery(),
).where(FeedToken.token_hash == bindparam("token_hash"))


async def resolve_with_fingerprint(
    session: AsyncSession, plain: str, now: dt.datetime
) -> tuple[FeedOwner, str, dt.datetime]:
    """The live token behind a feed URL and a fingerprint of everything its feed is built from, in one query.

    The fingerprint is the newest change (updated_at, through an index seek each) of the practice's
    appointments, series, clients, services, rooms, therapists and the practice itself, plus the day (the
    window slides). It is practice-wide on purpose: an appointment that moves to another therapist or room
    leaves no trace among its old owner's rows. A change elsewhere in the practice costs one rebuild, and
    if the owner's bytes did not change their ETag does not either, so the calendar app still gets a 304.
    Unknown and revoked tokens raise the same NotFound after the same single lookup.
    """
    wanted = hash_feed_token(plain)
    # Core, on the request's connection: the statement is built and compiled once per process, and the
    # ORM's per-execution work (which cost more than the query itself) is skipped. The lookup is
    # cross-practice by nature (the token names the practice), so the tenant scope does not apply.
    connection = await session.connection()
    row = (await connection.execute(_FINGERPRINT, {"token_hash": wanted})).first()
    if row is None or not hmac.compare_digest(row[5], wanted) or row[6] is not None:
        raise NotFound("No such calendar feed.")
    owner = FeedOwner(token_id=row[0], practice_id=row[1], owner_kind=row[2], owner_id=row[3], issued_at=row[4])
    changes = row[7:]
    stamps = [value for value in changes if isinstance(value, dt.datetime)]
    key = f"{owner.token_id}|{now.date()}|" + "|".join(str(value) for value in changes)
    newest_change = max([owner.issued_at, *stamps]).replace(microsecond=0)
    return owner, hashlib.sha256(key.encode()).hexdigest(), newest_change


def _initials(first: str, last: str) -> str:
    return "".join(f"{part[:1].upper()}." for part in (first, last) if part)


def _raw(column: Any) -> Any:
    """The column as the driver returns it: ids are grouped and compared raw, and only the few that are
    published are turned into text (converting every id of a large feed costs more than building it)."""
    return type_coerce(column, NullType())


def _key(raw: object) -> bytes:
    """A raw id (bytes on SQLite, a UUID from asyncpg) as the 16 bytes of the UUID."""
    if isinstance(raw, uuid.UUID):
        return raw.bytes
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw)
    return uuid.UUID(str(raw)).bytes


def _chunks(ids: list[uuid.UUID], size: int = 1000) -> list[list[uuid.UUID]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _uid(raw: object) -> str:
    if isinstance(raw, uuid.UUID):
        text = str(raw)
    elif isinstance(raw, bytes | bytearray | memoryview):
        text = str(uuid.UUID(bytes=bytes(raw)))
    else:
        text = str(uuid.UUID(str(raw)))
    return f"{text}@carebook"


class _Describer:
    """What one kind of feed may say about a visit."""

    def __init__(self, kind: FeedOwnerKind, practice: Practice) -> None:
        self.kind = kind
        self.address = ", ".join([practice.name, *practice.address_lines])

    def summary(self, first_name: str, last_name: str, service: str) -> str:
        if self.kind is FeedOwnerKind.THERAPIST:
            initials = _initials(first_name, last_name)
            return " ".join(p for p in ("Appointment", initials, f"({service})" if service else "") if p)
        return CLIENT_TITLE if self.kind is FeedOwnerKind.CLIENT else ROOM_TITLE

    def location(self, room: str | None) -> str:
        if self.kind is FeedOwnerKind.CLIENT:
            return self.address
        return room or ""


async def _calendar_name(session: AsyncSession, token: FeedOwner, practice: Practice) -> str:
    if token.owner_kind is FeedOwnerKind.THERAPIST:
        therapist = await session.get_one(Therapist, token.owner_id)
        return f"{therapist.display_name} · {practice.name}"
    if token.owner_kind is FeedOwnerKind.ROOM:
        room = await session.get_one(Room, token.owner_id)
        return f"{room.name} · {practice.name}"
    return practice.name


async def load_feed(session: AsyncSession, token: FeedOwner, now: dt.datetime) -> FeedCalendar:
    """The owner's feed for the window around `now`: their series (with every occurrence) and single visits.

    A handful of queries, names joined in: which series have an occurrence of the owner in the window,
    those series (the owner's), all their occurrences, the owner's other live visits in the window.
    """
    scope_session(session, token.practice_id)
    practice = await session.get_one(Practice, token.practice_id)
    describe = _Describer(token.owner_kind, practice)
    appointment_owner, series_owner = _owner_columns(token.owner_kind)
    start, end = window(now)
    in_window = [appointment_owner == token.owner_id, Appointment.start_at < end, Appointment.end_at > start]
    # Plain id lists between the queries, not nested subqueries: planners (PostgreSQL before ANALYZE
    # especially) turn `IN (SELECT … IN (SELECT …))` over thousands of rows into nested loops.
    touched = [
        series_id
        for series_id in await session.scalars(
            select(Appointment.series_id).where(*in_window, Appointment.series_id.is_not(None)).distinct()
        )
        if series_id is not None
    ]
    series_rows: list[Any] = []
    for chunk in _chunks(touched):
        series_rows += (
            await session.execute(
                select(
                    AppointmentSeries.id,
                    AppointmentSeries.timezone,
                    AppointmentSeries.dtstart_local,
                    AppointmentSeries.duration_minutes,
                    AppointmentSeries.rrule,
                    AppointmentSeries.sequence,
                    AppointmentSeries.updated_at,
                    Client.first_name,
                    Client.last_name,
                    Service.name,
                    Room.name,
                )
                .join(Client, Client.id == AppointmentSeries.client_id)
                .join(Service, Service.id == AppointmentSeries.service_id)
                .outerjoin(Room, Room.id == AppointmentSeries.room_id)
                .where(AppointmentSeries.id.in_(chunk), series_owner == token.owner_id)
            )
        ).all()
    published = [row[0] for row in series_rows]
    members: dict[bytes, list[FeedOccurrence]] = defaultdict(list)
    newest_member: dict[bytes, dt.datetime] = {}
    client_of = {row[0].bytes: (row[7], row[8]) for row in series_rows}
    for chunk in _chunks(published):
        occurrence_rows = await session.execute(
            select(
                _raw(Appointment.id),
                _raw(Appointment.series_id),
                Appointment.recurrence_id,
                Appointment.start_at,
                Appointment.end_at,
                _raw(Appointment.status),
                (appointment_owner == token.owner_id).label("mine"),
                Appointment.updated_at,
                Service.name,
                Room.name,
            )
            .join(Service, Service.id == Appointment.service_id)
            .outerjoin(Room, Room.id == Appointment.room_id)
            .where(Appointment.series_id.in_(chunk))
        )
        for raw_id, raw_series, recurrence, begins, ends, status, mine, changed, service, room in occurrence_rows:
            series_key = _key(raw_series)
            first_name, last_name = client_of[series_key]
            members[series_key].append(
                FeedOccurrence(
                    recurrence_id_local=recurrence,
                    start_utc=begins,
                    end_utc=ends,
                    live=status in _LIVE and bool(mine),
                    uid=_uid(raw_id),
                    location=describe.location(room),
                    summary=describe.summary(first_name, last_name, service),
                )
            )
            if changed > newest_member.get(series_key, changed - dt.timedelta(seconds=1)):
                newest_member[series_key] = changed
    changes = (
        select(func.count())
        .select_from(AppointmentEvent)
        .where(AppointmentEvent.appointment_id == Appointment.id)
        .scalar_subquery()
    )
    single_rows = await session.execute(
        select(
            _raw(Appointment.id),
            Appointment.start_at,
            Appointment.end_at,
            Appointment.updated_at,
            changes,
            Client.first_name,
            Client.last_name,
            Service.name,
            Room.name,
        )
        .join(Client, Client.id == Appointment.client_id)
        .join(Service, Service.id == Appointment.service_id)
        .outerjoin(Room, Room.id == Appointment.room_id)
        .where(
            *in_window,
            Appointment.status.in_(LIVE_STATUSES),
            or_(Appointment.series_id.is_(None), Appointment.series_id.not_in(published)) if published else true(),
        )
    )
    events = tuple(
        FeedEvent(
            uid=_uid(raw_id),
            start=begins,
            end=ends,
            summary=describe.summary(first_name, last_name, service),
            location=describe.location(room),
            sequence=max(int(n or 0) - 1, 0),  # changes after booking, as in the visit's own .ics
            last_modified=changed,
        )
        for raw_id, begins, ends, changed, n, first_name, last_name, service, room in single_rows
    )
    series = tuple(
        FeedSeries(
            uid=_uid(series_id),
            tzid=tzid,
            dtstart_local=dtstart,
            duration=dt.timedelta(minutes=minutes),
            rrule=rrule,
            sequence=sequence,
            summary=describe.summary(first, last, service),
            location=describe.location(room),
            last_modified=max(changed, newest_member.get(series_id.bytes, changed)),
            occurrences=tuple(members[series_id.bytes]),
        )
        for series_id, tzid, dtstart, minutes, rrule, sequence, changed, first, last, service, room in series_rows
    )
    return FeedCalendar(
        name=await _calendar_name(session, token, practice),
        uid=f"{uuid.uuid5(uuid.NAMESPACE_URL, f'carebook:feed:{token.owner_kind.value}:{token.owner_id}')}@carebook",
        tzid=practice.timezone,
        events=events,
        series=series,
        horizon_utc=end.replace(hour=0, minute=0, second=0, microsecond=0),
    )


class FeedCache:
    """Built feeds by token, kept while their data fingerprint holds (per process, least recently used out)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[uuid.UUID, tuple[str, BuiltFeed]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token_id: uuid.UUID, key: str) -> BuiltFeed | None:
        with self._lock:
            item = self._items.get(token_id)
            if item is None or item[0] != key:
                return None
            self._items.move_to_end(token_id)
            return item[1]

    def put(self, token_id: uuid.UUID, key: str, feed: BuiltFeed) -> None:
        with self._lock:
            self._items[token_id] = (key, feed)
            self._items.move_to_end(token_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = FeedCache()


async def current_feed(session: AsyncSession, plain: str, now: dt.datetime | None = None) -> BuiltFeed:
    """The feed behind a token, built only when its data fingerprint changed since this process last built it."""
    moment = now or dt.datetime.now(dt.UTC)
    # Calendar apps poll all day and nearly every poll ends at the fingerprint: one statement, no transaction.
    single_read = await begin_single_read(session)
    token, key, last_modified = await resolve_with_fingerprint(session, plain, moment)
    cached = CACHE.get(token.token_id, key)
    if cached is not None:
        return cached
    if single_read:
        await session.commit()  # the load reads several statements: in a transaction of its own
    body = build_calendar(await load_feed(session, token, moment))
    built = BuiltFeed(body=body, etag=f'"{hashlib.sha256(body).hexdigest()}"', last_modified=last_modified)
    CACHE.put(token.token_id, key, built)
    return built
