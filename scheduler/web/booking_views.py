"""What the client booking pages show, built from the practice, its catalogue and free slots.

No requests and no queries here: handlers in `booking_pages` load the data and render these views.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from scheduler.errors import InvalidInput
from scheduler.format import (
    format_day,
    format_day_range,
    format_money,
    format_time,
    tel_href,
    zone_name,
)
from scheduler.validation import check_day

if TYPE_CHECKING:
    from scheduler.booking.availability import Slot
    from scheduler.practice.models import Practice, Service, Therapist

ANY = "any"
WEEK = dt.timedelta(days=7)
# What a client reads for each appointment status.
STATUS_LABELS = {
    "pending_payment": "Waiting for payment",
    "booked": "Booked",
    "arrived": "Checked in",
    "completed": "Completed",
    "no_show": "Missed",
    "cancelled": "Cancelled",
}


Linker = Callable[[str], str]


@dataclass
class SlotLink:
    label: str
    href: str


@dataclass
class DayView:
    day: dt.date
    heading: str
    slots: list[SlotLink] = field(default_factory=list)


@dataclass
class WeekView:
    title: str
    days: list[DayView]
    previous_href: str | None
    next_href: str | None
    zone: str

    @property
    def empty(self) -> bool:
        return not any(day.slots for day in self.days)


@dataclass
class FormError:
    message: str
    field: str | None = None


def page_context(practice: Practice) -> dict[str, Any]:
    """What every booking page shows: the practice's name, its booking start and how to call it."""
    return {
        "practice": practice,
        "book_href": f"/p/{practice.slug}/book",
        "phone_href": tel_href(practice.phone) if practice.phone else None,
    }


def url(path: str, **query: str) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def local_today(practice: Practice) -> dt.date:
    return dt.datetime.now(ZoneInfo(practice.timezone)).date()


def parse_start(raw: str) -> dt.datetime:
    try:
        start = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput("That is not a time we offered. Choose a time again.", field="start") from None
    if start.tzinfo is None or start.utcoffset() is None:
        raise InvalidInput("That is not a time we offered. Choose a time again.", field="start")
    return start


def therapist_param(raw: str | None) -> str:
    return ANY if raw in {None, "", ANY} else str(raw)


def first_free(slots: list[Slot]) -> list[Slot]:
    """One slot per start time: with 'any therapist' the client picks a time, not a person."""
    seen: set[dt.datetime] = set()
    unique = []
    for slot in slots:
        instant = slot.start.astimezone(dt.UTC)
        if instant not in seen:
            seen.add(instant)
            unique.append(slot)
    return unique


def week_start(practice: Practice, week: dt.date | None) -> dt.date:
    today = local_today(practice)
    return today if week is None or week < today else check_day(week, "week")


def week_view(practice: Practice, first: dt.date, slots: list[Slot], slot_href: Linker, week_href: Linker) -> WeekView:
    """Seven local days from `first`, each with its free times as links; earlier/later week links."""
    zone = ZoneInfo(practice.timezone)
    days = [DayView(first + dt.timedelta(days=i), format_day(first + dt.timedelta(days=i))) for i in range(7)]
    by_day = {day.day: day for day in days}
    for slot in first_free(slots):
        local = slot.start.astimezone(zone)
        if local.date() in by_day:
            by_day[local.date()].slots.append(SlotLink(format_time(local, zone), slot_href(local.isoformat())))
    today = local_today(practice)
    last_day = today + dt.timedelta(days=practice.horizon_days)
    previous = max(first - WEEK, today) if first > today else None
    following = first + WEEK if first + WEEK <= last_day else None
    last = first + dt.timedelta(days=6)
    title = format_day_range(first, last)
    return WeekView(
        title=title,
        days=days,
        previous_href=week_href(previous.isoformat()) if previous else None,
        next_href=week_href(following.isoformat()) if following else None,
        zone=f"{zone_name(zone)} ({practice.timezone})",
    )


def service_card(practice: Practice, service: Service) -> dict[str, Any]:
    return {
        "id": str(service.id),
        "name": service.name,
        "duration": service.duration_minutes,
        "price": format_money(service.price, practice.currency),
        "description": service.description,
    }


def therapist_card(therapist: Therapist) -> dict[str, Any]:
    return {
        "id": str(therapist.id),
        "name": f"{therapist.first_name} {therapist.last_name}".strip(),
        "display_name": therapist.display_name,
        "credential": therapist.credential,
        "bio": therapist.bio,
    }
