"""msgspec shapes for availability, bookings and appointments."""

from __future__ import annotations

import datetime as dt

import msgspec


class SlotOut(msgspec.Struct):
    start: dt.datetime
    end: dt.datetime
    therapist_id: str


class Availability(msgspec.Struct):
    slots: list[SlotOut]


class BookingClient(msgspec.Struct, forbid_unknown_fields=True):
    first_name: str
    last_name: str
    email: str
    phone: str = ""


class BookingCreate(msgspec.Struct, forbid_unknown_fields=True):
    service_id: str
    start: dt.datetime
    client: BookingClient
    therapist_id: str | None = None  # None or "any": the first therapist free at that time


class AppointmentOut(msgspec.Struct):
    id: str
    start: dt.datetime
    end: dt.datetime
    status: str
    therapist_id: str
    client_id: str
    service_id: str
    room_id: str | None
    source: str
    cancel_reason: str
    cancelled_late: bool
    # A series occurrence: its series, its original local start (RECURRENCE-ID) and kind.
    series_id: str | None = None
    recurrence_id: str | None = None
    kind: str = "treatment"


class AppointmentList(msgspec.Struct):
    items: list[AppointmentOut]


class BookingCreated(msgspec.Struct):
    appointment: AppointmentOut
    manage_url: str
    calendar_url: str
    checkout_url: str | None


class AppointmentCreate(msgspec.Struct, forbid_unknown_fields=True):
    client_id: str
    service_id: str
    therapist_id: str
    start: dt.datetime
    room_id: str | None = None


class Reschedule(msgspec.Struct, forbid_unknown_fields=True):
    start: dt.datetime
    therapist_id: str | None = None


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""


class AppointmentEventOut(msgspec.Struct):
    at: dt.datetime
    actor: str
    actor_user_id: str | None
    action: str
    detail: dict[str, object]


class AppointmentEventList(msgspec.Struct):
    items: list[AppointmentEventOut]


class ManagedAppointment(msgspec.Struct):
    """What the client's manage link shows: their visit, and whether they can still change it."""

    appointment: AppointmentOut
    service_name: str
    therapist_name: str
    practice_name: str
    practice_phone: str
    can_change: bool
    change_deadline: dt.datetime
    calendar_url: str
