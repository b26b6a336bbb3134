"""Loading a feed's read model from the database, and the per-process cache of built feeds.

What each feed shows (spec ical-feeds.md, "Privacy"): the therapist's feed "Appointment" + the client's
initials and the service, with the room as LOCATION; the client's feed a discreet "Massage appointment" at
the practice's address; a room's feed "Booked". Nothing is read from intake, plans or notes, and no
e-mail or phone number, so none of it can reach Google's, Microsoft's or Apple's servers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.models import LIVE_STATUSES, Appointment, AppointmentEvent, AppointmentSeries
from scheduler.clients.models import Client
from scheduler.db import scope_session
from scheduler.feeds.build import build_calendar
from scheduler.feeds.model import FeedCalendar, FeedEvent, FeedOccurrence, FeedSeries
from scheduler.feeds.models import FeedOwnerKind, FeedToken
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


def window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    return now - WINDOW_BACK, now + WINDOW_AHEAD


def _owner_columns(kind: FeedOwnerKind) -> tuple[Any, Any]:
    """The appointment and series columns naming the feed's owner."""
    if kind is FeedOwnerKind.THERAPIST:
        return Appointment.therapist_id, AppointmentSeries.therapist_id
    if kind is FeedOwnerKind.CLIENT:
        return Appointment.client_id, AppointmentSeries.client_id
    return Appointment.room_id, AppointmentSeries.room_id


async def fingerprint(session: AsyncSession, token: FeedToken, now: dt.datetime) -> tuple[str, dt.datetime]:
    """A cheap summary that changes whenever the feed's bytes could: one aggregate query.

    The day is part of it because the window slides; every change to a series or one of its occurrences
    bumps the series row (its SEQUENCE), and every appointment change bumps the appointment's updated_at.
    """
    appointment_owner, series_owner = _owner_columns(token.owner_kind)
    start, end = window(now)
    in_window: ColumnElement[bool] = (
        (appointment_owner == token.owner_id) & (Appointment.start_at < end) & (Appointment.end_at > start)
    )

    owns_series: ColumnElement[bool] = series_owner == token.owner_id

    def newest(model: Any, *where: ColumnElement[bool]) -> Any:
        return select(func.max(model.updated_at)).where(*where).scalar_subquery()

    row = (
        await session.execute(
            select(
                select(func.count()).select_from(Appointment).where(in_window).scalar_subquery(),
                newest(Appointment, in_window),
                select(func.count()).select_from(AppointmentSeries).where(owns_series).scalar_subquery(),
                newest(AppointmentSeries, owns_series),
                newest(Client),
                newest(Service),
                newest(Room),
                newest(Therapist),
                newest(Practice, Practice.id == token.practice_id),
            )
        )
    ).one()
    stamps = [value for value in row if isinstance(value, dt.datetime)]
    newest_change = max([token.created_at, *stamps])
    key = f"{token.id}|{now.date()}|" + "|".join(str(value) for value in row)
    return hashlib.sha256(key.encode()).hexdigest(), newest_change.replace(microsecond=0)


def _initials(first: str, last: str) -> str:
    return "".join(f"{part[:1].upper()}." for part in (first, last) if part)


@dataclass(frozen=True, slots=True)
class _Row:
    id: uuid.UUID
    series_id: uuid.UUID | None
    recurrence_id: dt.datetime | None
    start_at: dt.datetime
    end_at: dt.datetime
    status: str
    therapist_id: uuid.UUID
    client_id: uuid.UUID
    room_id: uuid.UUID | None
    service_id: uuid.UUID
    updated_at: dt.datetime


_ROW_COLUMNS = (
    Appointment.id,
    Appointment.series_id,
    Appointment.recurrence_id,
    Appointment.start_at,
    Appointment.end_at,
    Appointment.status,
    Appointment.therapist_id,
    Appointment.client_id,
    Appointment.room_id,
    Appointment.service_id,
    Appointment.updated_at,
)


class _Describer:
    """Turns rows into what one kind of feed may say about them."""

    def __init__(self, kind: FeedOwnerKind, practice: Practice, names: dict[str, dict[uuid.UUID, str]]) -> None:
        self.kind = kind
        self.names = names
        self.address = ", ".join([practice.name, *practice.address_lines])

    def summary(self, client_id: uuid.UUID, service_id: uuid.UUID) -> str:
        if self.kind is FeedOwnerKind.THERAPIST:
            initials = self.names["client"].get(client_id, "")
            service = self.names["service"].get(service_id, "")
            return " ".join(p for p in ("Appointment", initials, f"({service})" if service else "") if p)
        return CLIENT_TITLE if self.kind is FeedOwnerKind.CLIENT else ROOM_TITLE

    def location(self, room_id: uuid.UUID | None) -> str:
        if self.kind is FeedOwnerKind.CLIENT:
            return self.address
        return self.names["room"].get(room_id, "") if room_id else ""


async def _names(
    session: AsyncSession, kind: FeedOwnerKind, client_ids: set[uuid.UUID]
) -> dict[str, dict[uuid.UUID, str]]:
    names: dict[str, dict[uuid.UUID, str]] = {"client": {}, "service": {}, "room": {}}
    if kind is FeedOwnerKind.THERAPIST:
        for client_id, first, last in await session.execute(
            select(Client.id, Client.first_name, Client.last_name).where(Client.id.in_(client_ids))
        ):
            names["client"][client_id] = _initials(first, last)
        names["service"] = dict((await session.execute(select(Service.id, Service.name))).tuples().all())
    names["room"] = dict((await session.execute(select(Room.id, Room.name))).tuples().all())
    return names


async def _sequences(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """A single appointment's SEQUENCE: how often it changed after booking (as in its own .ics)."""
    counts: dict[uuid.UUID, int] = {}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        query = (
            select(AppointmentEvent.appointment_id, func.count())
            .where(AppointmentEvent.appointment_id.in_(part))
            .group_by(AppointmentEvent.appointment_id)
        )
        counts.update((appointment_id, max(int(n) - 1, 0)) for appointment_id, n in await session.execute(query))
    return counts


async def _calendar_name(session: AsyncSession, token: FeedToken, practice: Practice) -> str:
    if token.owner_kind is FeedOwnerKind.THERAPIST:
        therapist = await session.get_one(Therapist, token.owner_id)
        return f"{therapist.display_name} · {practice.name}"
    if token.owner_kind is FeedOwnerKind.ROOM:
        room = await session.get_one(Room, token.owner_id)
        return f"{room.name} · {practice.name}"
    return practice.name


async def load_feed(session: AsyncSession, token: FeedToken, now: dt.datetime) -> FeedCalendar:
    """The owner's feed for the window around `now`: their series (all occurrences) and single visits."""
    scope_session(session, token.practice_id)
    practice = await session.get_one(Practice, token.practice_id)
    appointment_owner, series_owner = _owner_columns(token.owner_kind)
    start, end = window(now)
    in_window = [
        _Row(*r)
        for r in await session.execute(
            select(*_ROW_COLUMNS).where(
                appointment_owner == token.owner_id, Appointment.start_at < end, Appointment.end_at > start
            )
        )
    ]
    series_ids = {r.series_id for r in in_window if r.series_id is not None}
    series_rows = (
        list(
            await session.scalars(
                select(AppointmentSeries).where(AppointmentSeries.id.in_(series_ids), series_owner == token.owner_id)
            )
        )
        if series_ids
        else []
    )
    published = {s.id for s in series_rows}
    members: dict[uuid.UUID, list[_Row]] = defaultdict(list)
    if published:
        for r in await session.execute(select(*_ROW_COLUMNS).where(Appointment.series_id.in_(published))):
            members[r.series_id].append(_Row(*r))
    singles = [r for r in in_window if r.status in _LIVE and r.series_id not in published]
    client_ids = {r.client_id for r in singles} | {s.client_id for s in series_rows}
    describe = _Describer(token.owner_kind, practice, await _names(session, token.owner_kind, client_ids))
    sequences = await _sequences(session, [r.id for r in singles])

    def mine(row: _Row) -> bool:
        owner: uuid.UUID | None = getattr(row, appointment_owner.key)
        return owner == token.owner_id

    series = tuple(
        FeedSeries(
            uid=f"{s.id}@carebook",
            tzid=s.timezone,
            dtstart_local=s.dtstart_local,
            duration=dt.timedelta(minutes=s.duration_minutes),
            rrule=s.rrule,
            sequence=s.sequence,
            summary=describe.summary(s.client_id, s.service_id),
            location=describe.location(s.room_id),
            last_modified=max([s.updated_at, *(r.updated_at for r in members[s.id])]),
            occurrences=tuple(
                FeedOccurrence(
                    recurrence_id_local=r.recurrence_id,
                    start_utc=r.start_at,
                    end_utc=r.end_at,
                    live=r.status in _LIVE and mine(r),
                    uid=f"{r.id}@carebook",
                    location=describe.location(r.room_id),
                    summary=describe.summary(r.client_id, r.service_id),
                )
                for r in members[s.id]
            ),
        )
        for s in series_rows
    )
    events = tuple(
        FeedEvent(
            uid=f"{r.id}@carebook",
            start=r.start_at,
            end=r.end_at,
            summary=describe.summary(r.client_id, r.service_id),
            location=describe.location(r.room_id),
            sequence=sequences.get(r.id, 0),
            last_modified=r.updated_at,
        )
        for r in singles
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


async def current_feed(session: AsyncSession, token: FeedToken, now: dt.datetime | None = None) -> BuiltFeed:
    """The feed's bytes, built only when its data fingerprint changed since this process last built it."""
    moment = now or dt.datetime.now(dt.UTC)
    key, last_modified = await fingerprint(session, token, moment)
    cached = CACHE.get(token.id, key)
    if cached is not None:
        return cached
    body = build_calendar(await load_feed(session, token, moment))
    built = BuiltFeed(body=body, etag=f'"{hashlib.sha256(body).hexdigest()}"', last_modified=last_modified)
    CACHE.put(token.id, key, built)
    return built
