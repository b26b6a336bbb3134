"""msgspec shapes for series preview, commit and edits."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from scheduler.booking.schemas import AppointmentOut
from scheduler.plans.schemas import FrequencyIn


class AlternativeOut(msgspec.Struct):
    start: dt.datetime
    end: dt.datetime
    room_id: str | None


class ConflictOut(msgspec.Struct):
    """Why an occurrence cannot be booked as proposed: therapist_busy, room_busy, outside_hours, time_off,
    outside_lmn_window or in_the_past; `alternative` is the nearest free slot (same therapist), or null."""

    reason: str
    detail: str
    alternative: AlternativeOut | None


class OccurrenceOut(msgspec.Struct):
    index: int
    start: dt.datetime
    end: dt.datetime
    room_id: str | None
    kind: str
    service_id: str
    recurrence_id: str
    conflict: ConflictOut | None


class SeriesPreview(msgspec.Struct):
    occurrences: list[OccurrenceOut]


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    index: int
    action: Literal["skip", "shift", "keep"]


class SeriesCommit(msgspec.Struct, forbid_unknown_fields=True):
    """fail: 409 listing every conflict, nothing saved; skip: leave conflicts out; shift: take the
    alternatives; decide: one decision per conflicting occurrence (keep only for outside_lmn_window)."""

    conflict_policy: Literal["fail", "skip", "shift", "decide"] = "fail"
    decisions: list[Decision] = msgspec.field(default_factory=list)


class SeriesOut(msgspec.Struct):
    id: str
    plan_id: str | None
    client_id: str
    therapist_id: str
    service_id: str
    room_id: str | None
    timezone: str
    dtstart_local: str
    duration_minutes: int
    rrule: str
    sequence: int
    status: str
    parent_series_id: str | None
    occurrences: list[AppointmentOut]


class SeriesCommitted(msgspec.Struct):
    series: SeriesOut
    skipped: list[OccurrenceOut]
    shifted: list[OccurrenceOut]


class SeriesReschedule(msgspec.Struct, forbid_unknown_fields=True):
    """Re-time `following` occurrences (from `from_appointment_id`, splitting the series) or `all` of them.
    `first_start` is the new local wall time of the first moved occurrence ("YYYY-MM-DDTHH:MM", no offset);
    `frequency` the new rule (default: the series' own)."""

    scope: Literal["following", "all"]
    first_start: str
    from_appointment_id: str | None = None
    frequency: FrequencyIn | None = None


class SeriesEditedOut(msgspec.Struct):
    series: list[SeriesOut]


class SeriesCancel(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""
    from_appointment_id: str | None = None


class OccurrenceMove(msgspec.Struct, forbid_unknown_fields=True):
    start: dt.datetime
