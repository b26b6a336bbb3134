"""What the front-desk schedule templates show: columns, visit blocks, free times and labels.

Shapes a `DaySheet` (and the availability engine's slots) into plain values for Jinja; no database and no
HTTP here. Which buttons a visit offers mirrors the booking service's transitions; the service stays the
authority and refuses anything stale with a 409.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from scheduler.booking.availability import Slot
from scheduler.booking.day_sheet import DaySheet, Resource, Visit
from scheduler.format import (
    format_clock_range,
    format_long_day,
    format_short_when,
    format_stamp,
    format_time,
    format_time_range,
)
from scheduler.web.day_grid import DayGrid, Entry, Span, lay_out_day

if TYPE_CHECKING:
    from scheduler.booking.models import AppointmentEvent

VIEWS = ("therapists", "rooms")
NO_ROOM = "no-room"

STATUS_LABELS = {
    "pending_payment": "Awaiting payment",
    "booked": "Booked",
    "arrived": "Arrived",
    "completed": "Completed",
    "no_show": "No-show",
    "cancelled": "Cancelled",
}
EVENT_LABELS = {
    "booked": "Booked",
    "rescheduled": "Moved",
    "cancelled": "Cancelled",
    "arrived": "Marked arrived",
    "completed": "Marked completed",
    "no_show": "Marked no-show",
}


def schedule_url(day: dt.date, view: str = "therapists", highlight: str | None = None) -> str:
    query: dict[str, str] = {"date": day.isoformat()}
    if view != "therapists":
        query["view"] = view
    if highlight:
        query["highlight"] = highlight
    url = f"/staff/schedule?{urlencode(query)}"
    return f"{url}#appt-{highlight}" if highlight else url


def book_url(day: dt.date, therapist_id: str | None = None, **more: str) -> str:
    query = {"date": day.isoformat(), **({"therapist_id": therapist_id} if therapist_id else {}), **more}
    return f"/staff/book?{urlencode({k: v for k, v in query.items() if v})}"


@dataclass(frozen=True)
class Block:
    """One visit in a column: where it sits on the grid and how it is labelled."""

    visit: Visit
    span: Span | None
    time_label: str  # "10:30 AM to 11:30 AM" with an en dash
    start_label: str  # "10:30 AM": the grid's narrow cards wrap the time between its two ends
    end_label: str
    status_label: str
    highlighted: bool
    url: str
    detail: str  # the line under the client's name: the service, or in the room view also the therapist


@dataclass(frozen=True)
class Column:
    id: str
    name: str
    book_url: str | None
    blocks: list[Block]
    working: list[Span]
    away: list[Span]
    hours_label: str


@dataclass(frozen=True)
class SchedulePage:
    day: dt.date
    view: str
    title: str
    grid: DayGrid
    columns: list[Column]
    cancelled: list[Block]
    prev_url: str
    next_url: str
    today_url: str
    is_today: bool
    other_view_url: str
    book_url: str


def _hours_label(
    windows: Sequence[tuple[dt.time, dt.time]], away: Sequence[tuple[dt.datetime, dt.datetime]], zone: ZoneInfo
) -> str:
    label = "Works " + ", ".join(format_clock_range(s, e) for s, e in windows) if windows else "Not working"
    if away:
        label += "; away " + ", ".join(format_time_range(s, e, zone) for s, e in away)
    return label


def _columns_for(sheet: DaySheet, view: str) -> list[Resource]:
    if view == "therapists":
        return sheet.therapists
    columns = list(sheet.rooms)
    if any(v.room_id is None and not v.is_cancelled for v in sheet.visits):
        columns.append(Resource(NO_ROOM, "No room"))
    return columns


def _column_of(visit: Visit, view: str) -> str:
    if view == "therapists":
        return visit.therapist_id
    return visit.room_id or NO_ROOM


def schedule_page(sheet: DaySheet, view: str, now: dt.datetime, highlight: str = "") -> SchedulePage:
    view = view if view in VIEWS else "therapists"
    live = [v for v in sheet.visits if not v.is_cancelled]
    grid = lay_out_day(
        day=sheet.day,
        zone=sheet.zone,
        entries=[Entry(v.id, _column_of(v, view), v.start, v.end) for v in live],
        working=sheet.working if view == "therapists" else None,
        away=sheet.away if view == "therapists" else None,
        now=now,
    )

    def block(visit: Visit) -> Block:
        detail = visit.service_name if view == "therapists" else f"{visit.service_name} · {visit.therapist_name}"
        if visit.series_label:
            detail = f"{detail} · {visit.series_label}"
        return Block(
            visit=visit,
            span=grid.visits.get(visit.id),
            time_label=format_time_range(visit.start, visit.end, sheet.zone),
            start_label=format_time(visit.start, sheet.zone),
            end_label=format_time(visit.end, sheet.zone),
            status_label=STATUS_LABELS.get(visit.status, visit.status),
            highlighted=visit.id == highlight,
            url=f"/staff/appointments/{visit.id}",
            detail=detail,
        )

    columns = [
        Column(
            id=resource.id,
            name=resource.name,
            book_url=book_url(sheet.day, resource.id) if view == "therapists" else None,
            blocks=[block(v) for v in live if _column_of(v, view) == resource.id],
            working=grid.working.get(resource.id, []),
            away=grid.away.get(resource.id, []),
            hours_label=_hours_label(sheet.working.get(resource.id, []), sheet.away.get(resource.id, []), sheet.zone)
            if view == "therapists"
            else "",
        )
        for resource in _columns_for(sheet, view)
    ]
    today = now.astimezone(sheet.zone).date()
    other = "rooms" if view == "therapists" else "therapists"
    return SchedulePage(
        day=sheet.day,
        view=view,
        title=format_long_day(sheet.day),
        grid=grid,
        columns=columns,
        cancelled=[block(v) for v in sheet.visits if v.is_cancelled],
        prev_url=schedule_url(sheet.day - dt.timedelta(days=1), view),
        next_url=schedule_url(sheet.day + dt.timedelta(days=1), view),
        today_url=schedule_url(today, view),
        is_today=sheet.day == today,
        other_view_url=schedule_url(sheet.day, other),
        book_url=book_url(sheet.day),
    )


@dataclass(frozen=True)
class FreeTime:
    value: str  # the start as ISO 8601 with offset, what the form posts
    label: str  # "9:15 AM"


@dataclass(frozen=True)
class FreeTimes:
    part: str  # Morning / Afternoon / Evening
    times: list[FreeTime]


def free_times(slots: Iterable[Slot], zone: ZoneInfo, granularity_minutes: int) -> list[FreeTimes]:
    """Free starts on the practice's booking grid, grouped by part of the day.

    The desk may book at any minute (the staff policy's grid is one minute), but a list of every minute
    is unreadable; the practice's grid is what people expect to pick from.
    """
    step = max(granularity_minutes, 1)
    groups: dict[str, list[FreeTime]] = {"Morning": [], "Afternoon": [], "Evening": []}
    seen: set[str] = set()
    for slot in sorted(slots, key=lambda s: s.start):
        local = slot.start.astimezone(zone)
        if (local.hour * 60 + local.minute) % step:
            continue
        value = local.isoformat()
        if value in seen:
            continue
        seen.add(value)
        part = "Morning" if local.hour < 12 else "Afternoon" if local.hour < 17 else "Evening"
        groups[part].append(FreeTime(value=value, label=format_time(local, zone)))
    return [FreeTimes(part, times) for part, times in groups.items() if times]


def visit_actions(visit: Visit, now: dt.datetime) -> list[str]:
    """The status buttons worth showing for this visit now (the booking service has the last word)."""
    # Completed and no-show say the visit's time has come (the service refuses them earlier): arriving early is fine.
    started = visit.start <= now
    if visit.status == "booked":
        return ["arrive", "complete", "no-show"] if started else ["arrive"]
    if visit.status == "arrived" and started:
        return ["complete"]
    return []


def can_move_or_cancel(visit: Visit) -> bool:
    return visit.status in {"booked", "pending_payment"}


@dataclass(frozen=True)
class HistoryItem:
    label: str  # "Moved"
    by: str  # a staff member's name, or "the client online"
    at: str
    note: str  # "was Tue, Mar 2, 10:00 AM", a cancellation's reason, …


def _note(event: AppointmentEvent, zone: ZoneInfo) -> str:
    detail = event.detail if isinstance(event.detail, dict) else {}
    previous = detail.get("previous")
    if event.action == "rescheduled" and isinstance(previous, dict) and previous.get("start"):
        was = dt.datetime.fromisoformat(str(previous["start"]))
        return f"was {format_short_when(was, zone)}"
    if event.action == "cancelled":
        return "; ".join(p for p in (str(detail.get("reason") or ""), "late" if detail.get("late") else "") if p)
    if event.action == "booked" and detail.get("back_entered"):
        return "entered after the visit"
    return ""


def history(
    events: Iterable[AppointmentEvent], staff_names: Mapping[uuid.UUID, str], zone: ZoneInfo
) -> list[HistoryItem]:
    """The audit trail in words: who did what, when."""
    items = []
    for event in events:
        if event.actor == "staff":
            by = staff_names.get(event.actor_user_id, "staff") if event.actor_user_id else "staff"
        else:
            by = "the client online" if event.actor == "client" else event.actor
        items.append(
            HistoryItem(
                label=EVENT_LABELS.get(event.action, event.action),
                by=by,
                at=format_stamp(event.created_at, zone),
                note=_note(event, zone),
            )
        )
    return items
