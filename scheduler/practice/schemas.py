"""msgspec shapes for practice set-up as the API shows it."""

from __future__ import annotations

import datetime as dt

import msgspec


class ServiceOut(msgspec.Struct):
    id: str
    name: str
    description: str
    duration_minutes: int
    price: int
    currency: str
    cpt_code: str | None
    fsa_eligible: bool
    bookable_online: bool
    buffer_before_minutes: int
    buffer_after_minutes: int


class ServiceList(msgspec.Struct):
    items: list[ServiceOut]


class TherapistOut(msgspec.Struct):
    id: str
    name: str
    first_name: str
    last_name: str
    credential: str
    bio: str
    service_ids: list[str]


class TherapistList(msgspec.Struct):
    items: list[TherapistOut]


class TherapistDetail(TherapistOut):
    license_number: str
    license_state: str
    npi: str | None
    is_active: bool


class RoomOut(msgspec.Struct):
    id: str
    name: str
    is_active: bool


class RoomList(msgspec.Struct):
    items: list[RoomOut]


class PracticeOut(msgspec.Struct):
    id: str
    slug: str
    name: str
    legal_name: str
    timezone: str
    currency: str
    phone: str
    address: list[str]


class UserOut(msgspec.Struct):
    id: str
    email: str
    full_name: str
    role: str
    is_active: bool
    therapist_id: str | None


class UserList(msgspec.Struct):
    items: list[UserOut]


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: str = msgspec.field()
    password: str = msgspec.field()
    role: str = msgspec.field()
    full_name: str = ""
    therapist_id: str | None = None


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    label: str = ""


class TokenOut(msgspec.Struct):
    id: str
    prefix: str
    label: str
    revoked: bool


class TokenIssued(TokenOut):
    token: str


class TokenList(msgspec.Struct):
    items: list[TokenOut]


# --- Set-up (owner writes). Inputs refuse unknown fields; PATCH bodies leave out what they keep. ---

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


class ServiceDetail(ServiceOut):
    room_ids: list[str]
    is_active: bool


class ServiceDetailList(msgspec.Struct):
    items: list[ServiceDetail]


class TherapistDetailList(msgspec.Struct):
    items: list[TherapistDetail]


class TherapistCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new therapist. `npi` is ten digits with a valid check digit; `service_ids` are this practice's services."""

    first_name: str
    last_name: str
    credential: str = ""
    license_number: str = ""
    license_state: str = ""
    npi: str | None = None
    bio: str = ""
    service_ids: list[str] = msgspec.field(default_factory=list)


class TherapistUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Change only the fields given; `service_ids` replaces the whole list; `npi: null` clears it."""

    first_name: str | Unset = UNSET
    last_name: str | Unset = UNSET
    credential: str | Unset = UNSET
    license_number: str | Unset = UNSET
    license_state: str | Unset = UNSET
    npi: str | Unset | None = UNSET
    bio: str | Unset = UNSET
    service_ids: list[str] | Unset = UNSET
    is_active: bool | Unset = UNSET


class RoomCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A room; names are unique within the practice (case-insensitive)."""

    name: str


class RoomUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | Unset = UNSET
    is_active: bool | Unset = UNSET


class ServiceCreate(msgspec.Struct, forbid_unknown_fields=True):
    """duration_minutes 5..480; price >= 0 in minor units; cpt_code five digits or null; buffers 0..120;
    room_ids: rooms that can host it (empty = any room)."""

    name: str
    duration_minutes: int = msgspec.field()
    price: int = msgspec.field()
    description: str = ""
    cpt_code: str | None = None
    fsa_eligible: bool = True
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    bookable_online: bool = True
    room_ids: list[str] = msgspec.field(default_factory=list)


class ServiceUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Change only the fields given (same rules as creating); `room_ids` replaces the whole list."""

    name: str | Unset = UNSET
    duration_minutes: int | Unset = UNSET
    price: int | Unset = UNSET
    description: str | Unset = UNSET
    cpt_code: str | Unset | None = UNSET
    fsa_eligible: bool | Unset = UNSET
    buffer_before_minutes: int | Unset = UNSET
    buffer_after_minutes: int | Unset = UNSET
    bookable_online: bool | Unset = UNSET
    room_ids: list[str] | Unset = UNSET
    is_active: bool | Unset = UNSET


class WeeklyHours(msgspec.Struct, forbid_unknown_fields=True):
    """One interval of the regular week in the practice's local time; weekday 0 is Monday."""

    weekday: int
    start: str
    end: str


class WeeklyHoursList(msgspec.Struct, forbid_unknown_fields=True):
    """A therapist's whole regular week; intervals on one weekday may touch but not overlap."""

    items: list[WeeklyHours]


class TimeOffCreate(msgspec.Struct, forbid_unknown_fields=True):
    """ISO 8601 instants with a UTC offset (a datetime without one is refused); end after start.

    Live visits still to come inside [start, end) refuse it with 409 `appointments_in_the_way` (listing them);
    `keep_appointments: true` saves it anyway and the answer lists the visits still booked inside it."""

    start: dt.datetime
    end: dt.datetime
    reason: str = ""
    keep_appointments: bool = False


class TimeOffOut(msgspec.Struct):
    id: str
    therapist_id: str
    start: dt.datetime
    end: dt.datetime
    reason: str


class AppointmentInTheWay(msgspec.Struct):
    """A live visit still to come that a set-up change leaves without its therapist or room (nothing clinical:
    the client by initials)."""

    id: str
    start: dt.datetime  # in the practice's zone
    end: dt.datetime
    status: str
    service: str
    client_initials: str


class TimeOffCreated(TimeOffOut):
    """The time off saved, and the live visits still booked inside it (empty unless `keep_appointments`)."""

    appointments_in_the_way: list[AppointmentInTheWay]


class TimeOffList(msgspec.Struct):
    items: list[TimeOffOut]


class ExtraHoursCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A one-off interval: day YYYY-MM-DD, start and end HH:MM in the practice's local time."""

    day: str
    start: str
    end: str


class ExtraHoursOut(msgspec.Struct):
    id: str
    therapist_id: str
    day: dt.date
    start: str
    end: str


class ExtraHoursList(msgspec.Struct):
    items: list[ExtraHoursOut]


class PolicyOut(msgspec.Struct):
    min_notice_minutes: int
    horizon_days: int
    slot_granularity_minutes: int
    cancellation_window_hours: int


class PolicyUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """min_notice_minutes 0..10080, horizon_days 1..730, slot_granularity_minutes one of 5, 10, 15, 20, 30, 60,
    cancellation_window_hours 0..168."""

    min_notice_minutes: int | Unset = UNSET
    horizon_days: int | Unset = UNSET
    slot_granularity_minutes: int | Unset = UNSET
    cancellation_window_hours: int | Unset = UNSET
