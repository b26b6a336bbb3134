"""Form parsing for the clinical pages: posted plan and assessment forms into the services' inputs.

A malformed value is InvalidInput naming the form field, like the API's; the pages show the form again
with what was typed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from scheduler.errors import InvalidInput
from scheduler.plans.measures import FunctionalLimit, Measures, Pain, RangeOfMotion
from scheduler.plans.services import LmnDetails, PlanDetails
from scheduler.validation import parse_uuid_field

MEASURE_ROWS = 4
WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
TECHNIQUES = ("myofascial release", "trigger point", "deep tissue", "cupping", "neuromuscular", "stretching")


def text(form: Any, name: str) -> str:
    return str(form.get(name, "") or "").strip()


def lines(raw: str, *, commas: bool = False) -> list[str]:
    parts = raw.replace(",", "\n").splitlines() if commas else raw.splitlines()
    return [p.strip() for p in parts if p.strip()]


def _int(form: Any, name: str, what: str, field: str | None = None) -> int | None:
    raw = text(form, name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"Give {what} as a whole number.", field=field or name) from None


def _date(form: Any, name: str) -> dt.date | None:
    raw = text(form, name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("Give the date as YYYY-MM-DD.", field=name) from None


def _id(form: Any, name: str, what: str) -> uuid.UUID:
    raw = text(form, name)
    if not raw:
        raise InvalidInput(f"Choose {what}.", field=name)
    return parse_uuid_field(raw, name)


def form_values(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {key: str(form.get(key, "")) for key in form}
    values["weekdays"] = [str(v) for v in form.getall("weekdays", [])]
    values["techniques"] = [str(v) for v in form.getall("techniques", [])]
    return values


def plan_details(form: Any, client_id: uuid.UUID) -> PlanDetails:
    """The new-plan form as the plan service's input."""
    first_day, first_time = text(form, "first_date"), text(form, "first_time")
    if not first_day:
        raise InvalidInput("Choose the date of the first session.", field="first_start")
    techniques = [str(t) for t in form.getall("techniques", [])] + lines(text(form, "other_techniques"), commas=True)
    lmn = None
    if text(form, "lmn_issuer_name"):
        signed, expires = _date(form, "lmn_signed_on"), _date(form, "lmn_expires_on")
        if signed is None:
            raise InvalidInput("Give the date the letter was signed.", field="lmn_signed_on")
        if expires is None:
            raise InvalidInput("Give the date the letter expires.", field="lmn_expires_on")
        lmn = LmnDetails(
            issuer_name=text(form, "lmn_issuer_name"),
            issuer_credential=text(form, "lmn_issuer_credential"),
            issuer_npi=text(form, "lmn_issuer_npi") or None,
            issuer_address=text(form, "lmn_issuer_address"),
            signed_on=signed,
            expires_on=expires,
            condition=text(form, "lmn_condition"),
            frequency=text(form, "lmn_frequency"),
        )
    reassessment = text(form, "reassessment_service_id")
    ends = text(form, "ends")
    return PlanDetails(
        client_id=client_id,
        therapist_id=_id(form, "therapist_id", "a therapist"),
        service_id=_id(form, "service_id", "a service"),
        reassessment_service_id=parse_uuid_field(reassessment, "reassessment_service_id") if reassessment else None,
        diagnosis_codes=[c.upper() for c in lines(text(form, "diagnosis_codes"), commas=True)],
        goals=lines(text(form, "goals")),
        techniques=techniques,
        frequency={
            "freq": text(form, "freq") or "weekly",
            "interval": _int(form, "interval", "the interval", "frequency.interval") or 1,
            "weekdays": [str(d) for d in form.getall("weekdays", [])],
        },
        first_start=f"{first_day}T{first_time or '09:00'}",
        sessions=_int(form, "sessions", "the number of sessions") if ends != "until" else None,
        until=_date(form, "until") if ends == "until" else None,
        reassess_every=_int(form, "reassess_every", "the re-assessment interval"),
        home_care=text(form, "home_care"),
        lmn=lmn,
    )


def _row_int(form: Any, name: str, field: str, what: str) -> int:
    raw = text(form, name)
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"Give {what} as a whole number.", field=field) from None


def assessment_measures(form: Any) -> Measures:
    """The assessment form's filled rows as measures (empty rows are ignored)."""
    pain: list[Pain] = []
    rom: list[RangeOfMotion] = []
    limits: list[FunctionalLimit] = []
    for i in range(MEASURE_ROWS):
        if text(form, f"pain_area_{i}") or text(form, f"pain_intensity_{i}"):
            index = len(pain)
            pain.append(
                Pain(
                    text(form, f"pain_area_{i}"),
                    _row_int(form, f"pain_intensity_{i}", f"pain[{index}].intensity", "the pain"),
                )
            )
        if text(form, f"rom_joint_{i}") or text(form, f"rom_degrees_{i}"):
            index = len(rom)
            rom.append(
                RangeOfMotion(
                    text(form, f"rom_joint_{i}"),
                    text(form, f"rom_movement_{i}"),
                    _row_int(form, f"rom_degrees_{i}", f"range_of_motion[{index}].degrees", "the degrees"),
                )
            )
        if text(form, f"fn_activity_{i}") or text(form, f"fn_score_{i}"):
            index = len(limits)
            limits.append(
                FunctionalLimit(
                    text(form, f"fn_activity_{i}"),
                    _row_int(form, f"fn_score_{i}", f"functional_limits[{index}].score", "the difficulty"),
                    text(form, f"fn_note_{i}"),
                )
            )
    return Measures(pain=tuple(pain), range_of_motion=tuple(rom), functional_limits=tuple(limits))


def assessment_date(form: Any) -> dt.date | None:
    return _date(form, "assessed_on")


def series_decisions(form: Any, conflicting: list[int]) -> dict[int, str]:
    """skip / shift / keep per conflicting occurrence, as chosen on the preview page."""
    decisions: dict[int, str] = {}
    for index in conflicting:
        choice = text(form, f"decision_{index}")
        if choice not in {"skip", "shift", "keep"}:
            raise InvalidInput(f"Choose what to do with occurrence {index}.", field=f"decision_{index}")
        decisions[index] = choice
    return decisions
