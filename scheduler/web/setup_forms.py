"""The set-up pages' forms: reading posted fields into the API's input shapes, and back into form values.

Parsing only; the rules run in `scheduler.practice.setup`. Field names match the API's where they can,
so an error's `field` points at the input to mark; the few that differ are translated by `form_error`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, TypeVar

import msgspec
from litestar.datastructures import FormMultiDict

from scheduler.errors import AppointmentsInTheWay, CarebookError, Conflict, InvalidInput, RuleViolation
from scheduler.practice import rules
from scheduler.practice.models import Practice, Service, Therapist
from scheduler.practice.schemas import (
    ExtraHoursCreate,
    PolicyUpdate,
    RoomCreate,
    ServiceCreate,
    TherapistCreate,
    TimeOffCreate,
    WeeklyHours,
)

Form = FormMultiDict
StructT = TypeVar("StructT", bound=msgspec.Struct)

# The errors a form shows next to its fields; anything else (404, 403) gets the error page.
FORM_ERRORS = (InvalidInput, RuleViolation, Conflict)
FormError = InvalidInput | RuleViolation | Conflict
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SLOTS_PER_DAY = 2
THERAPIST_FIELDS = ("first_name", "last_name", "credential", "license_number", "license_state", "npi", "bio")
SERVICE_TEXT_FIELDS = (
    "name",
    "description",
    "duration_minutes",
    "price",
    "cpt_code",
    "buffer_before_minutes",
    "buffer_after_minutes",
)
SERVICE_FLAGS = ("fsa_eligible", "bookable_online")
NEW_SERVICE_VALUES = {
    "duration_minutes": "60",
    "buffer_before_minutes": "0",
    "buffer_after_minutes": "0",
    "fsa_eligible": True,
    "bookable_online": True,
}
POLICY_FIELDS = ("min_notice_minutes", "horizon_days", "slot_granularity_minutes", "cancellation_window_hours")
TIME_OFF_FIELDS = ("start_day", "start_time", "end_day", "end_time", "reason")
EXTRA_FIELDS = ("extra_day", "extra_start", "extra_end")

_HOURS_INPUT_RE = re.compile(r"^h([0-6])_(\d{1,2})_start$")
_ITEM_FIELD_RE = re.compile(r"^items\[(\d+)\]\.(\w+)$")
_LIST_FIELD_RE = re.compile(r"^(\w+)\[\d+\]$")


def text(form: Form, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def values(form: Form, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: text(form, name) for name in names}


def whole_number(form: Form, name: str) -> int:
    raw = text(form, name).strip()
    if not re.fullmatch(r"-?\d{1,9}", raw):
        raise InvalidInput("Enter a whole number.", field=name)
    return int(raw)


def checked(form: Form, name: str) -> bool:
    return text(form, name) in {"on", "true", "1", "yes"}


def ids(form: Form, name: str) -> list[str]:
    return [v for v in form.getall(name, []) if isinstance(v, str) and v]


def as_update(data: msgspec.Struct, update_type: type[StructT]) -> StructT:
    """A form always carries every field, so its update is the create shape with every field given."""
    return update_type(**msgspec.structs.asdict(data))


def form_error(
    exc: CarebookError, hour_inputs: list[str] | None = None, rename: dict[str, str] | None = None
) -> dict[str, Any]:
    """What the template shows: the message, and the id of the input at fault ('items[2].end' → 'h1_0_end')."""
    field = exc.field
    if field is not None:
        item = _ITEM_FIELD_RE.match(field)
        listed = _LIST_FIELD_RE.match(field)
        if item is not None and hour_inputs and int(item.group(1)) < len(hour_inputs):
            field = f"{hour_inputs[int(item.group(1))]}_{item.group(2)}"
        elif listed is not None:
            field = listed.group(1)
        field = (rename or {}).get(field, field)
    if isinstance(exc, AppointmentsInTheWay):
        # The page's opt-in is the "keep them booked" checkbox shown with the list, so the error points there.
        visits = visits_shown(exc.extra["appointments"])
        count = "1 booked appointment is" if len(visits) == 1 else f"{len(visits)} booked appointments are"
        message = f"{count} in the way. Move or cancel them first, or tick the box to keep them booked."
        return {"message": message, "field": "keep_appointments", "appointments": visits}
    return {"message": exc.detail, "field": field}


def visits_shown(visits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Visits in the way as the pages list them: local day and times (already in the practice's zone)."""
    shown = []
    for visit in visits:
        start, end = dt.datetime.fromisoformat(visit["start"]), dt.datetime.fromisoformat(visit["end"])
        when = f"{start.strftime('%a %d %b %Y, %H:%M')} to {end.strftime('%H:%M')}"
        shown.append(visit | {"when": when})
    return shown


# --- weekly hours -----------------------------------------------------------------------------------


def _hour_rows(form: Form) -> list[tuple[int, int]]:
    return sorted((int(m.group(1)), int(m.group(2))) for key in form if (m := _HOURS_INPUT_RE.match(key)) is not None)


def week(form: Form) -> tuple[list[WeeklyHours], list[str]]:
    """Filled rows of the hours table as API items, plus the input prefix of each (to place errors)."""
    items: list[WeeklyHours] = []
    prefixes: list[str] = []
    for weekday, slot in _hour_rows(form):
        prefix = f"h{weekday}_{slot}"
        start, end = text(form, f"{prefix}_start").strip(), text(form, f"{prefix}_end").strip()
        if not start and not end:
            continue
        if not start or not end:
            missing = "start" if not start else "end"
            raise InvalidInput("Give both a start and an end time, or leave both empty.", field=f"{prefix}_{missing}")
        items.append(WeeklyHours(weekday=weekday, start=start, end=end))
        prefixes.append(prefix)
    return items, prefixes


def hours_grid(items: list[tuple[int, str, str]]) -> list[dict[str, Any]]:
    """One entry per weekday with at least two rows of (start, end); more when the week already has more."""
    days: list[dict[str, Any]] = []
    for weekday, name in enumerate(WEEKDAY_NAMES):
        rows = [(start, end) for day, start, end in items if day == weekday]
        rows += [("", "")] * max(0, SLOTS_PER_DAY - len(rows))
        days.append({"weekday": weekday, "name": name, "rows": rows})
    return days


def hours_grid_of(week_items: list[rules.WeeklyInterval]) -> list[dict[str, Any]]:
    return hours_grid([(i.weekday, rules.hhmm(i.start), rules.hhmm(i.end)) for i in week_items])


def hours_grid_from_form(form: Form) -> list[dict[str, Any]]:
    rows = [
        (day, text(form, f"h{day}_{slot}_start").strip(), text(form, f"h{day}_{slot}_end").strip())
        for day, slot in _hour_rows(form)
    ]
    return hours_grid([(day, start, end) for day, start, end in rows if start or end])


# --- therapists, services, rooms, policy, absences --------------------------------------------------


def therapist_from_form(form: Form) -> TherapistCreate:
    return TherapistCreate(**values(form, THERAPIST_FIELDS), service_ids=ids(form, "service_ids"))


def therapist_values(therapist: Therapist) -> dict[str, Any]:
    return {name: getattr(therapist, name) or "" for name in THERAPIST_FIELDS}


def service_from_form(form: Form, currency: str) -> ServiceCreate:
    return ServiceCreate(
        name=text(form, "name"),
        description=text(form, "description"),
        duration_minutes=whole_number(form, "duration_minutes"),
        price=rules.price_from_amount(text(form, "price"), currency),
        cpt_code=text(form, "cpt_code"),
        fsa_eligible=checked(form, "fsa_eligible"),
        buffer_before_minutes=whole_number(form, "buffer_before_minutes"),
        buffer_after_minutes=whole_number(form, "buffer_after_minutes"),
        bookable_online=checked(form, "bookable_online"),
        room_ids=ids(form, "room_ids"),
    )


def service_values_from_form(form: Form) -> dict[str, Any]:
    return values(form, SERVICE_TEXT_FIELDS) | {name: checked(form, name) for name in SERVICE_FLAGS}


def service_values(service: Service, currency: str) -> dict[str, Any]:
    shown = {name: str(getattr(service, name) or "") for name in SERVICE_TEXT_FIELDS}
    shown["price"] = rules.amount_from_price(service.price, currency)
    return shown | {name: getattr(service, name) for name in SERVICE_FLAGS}


def room_from_form(form: Form) -> RoomCreate:
    return RoomCreate(name=text(form, "name"))


def policy_from_form(form: Form) -> PolicyUpdate:
    return PolicyUpdate(**{name: whole_number(form, name) for name in POLICY_FIELDS})


def policy_values(practice: Practice) -> dict[str, str]:
    return {name: str(getattr(practice, name)) for name in POLICY_FIELDS}


def time_off_from_form(form: Form, practice: Practice) -> TimeOffCreate:
    """Time off typed as local dates and times. In an autumn fold the start takes the earlier instant and
    the end the later one, so the time off covers the whole ambiguous hour; a spring gap is refused."""
    start = rules.local_to_utc(
        rules.local_day(text(form, "start_day"), "start_day"),
        rules.local_time(text(form, "start_time"), "start_time"),
        practice.timezone,
        "start_time",
    )
    end = rules.local_to_utc(
        rules.local_day(text(form, "end_day"), "end_day"),
        rules.local_time(text(form, "end_time"), "end_time"),
        practice.timezone,
        "end_time",
        later=True,
    )
    return TimeOffCreate(
        start=start, end=end, reason=text(form, "reason"), keep_appointments=checked(form, "keep_appointments")
    )


def extra_hours_from_form(form: Form) -> ExtraHoursCreate:
    return ExtraHoursCreate(day=text(form, "extra_day"), start=text(form, "extra_start"), end=text(form, "extra_end"))
