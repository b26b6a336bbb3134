"""The client's intake questionnaire under /p/{slug}/intake/{token}: no account, a link the desk sent.

The practice comes from the slug and scopes the database session, so a link only opens its own
practice's questionnaire for its own client. Answers travel in the POST body only (never in a URL or a
log line); a refused answer shows the form again with the client's answers and the field at fault.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template

from scheduler.clients import intake
from scheduler.clients.intake_rules import CONDITIONS, IntakeAnswers, PainArea
from scheduler.deps import DbSession, PathPractice
from scheduler.errors import InvalidInput
from scheduler.practice.deps import provide_public_practice
from scheduler.practice.models import Practice

PAIN_ROWS = 5


def _flag(form: Any, name: str) -> bool:
    return str(form.get(name, "")).strip().lower() in {"on", "yes", "true", "1"}


def _text(form: Any, name: str) -> str:
    return str(form.get(name, ""))


def answers_from_form(form: Any) -> IntakeAnswers:
    """The posted form as answers; a malformed date or number is InvalidInput naming its field."""
    surgery_raw = _text(form, "last_surgery_on").strip()
    try:
        last_surgery = dt.date.fromisoformat(surgery_raw) if surgery_raw else None
    except ValueError:
        raise InvalidInput("Give the date as YYYY-MM-DD.", field="last_surgery_on") from None
    weeks_raw = _text(form, "pregnancy_weeks").strip()
    if weeks_raw and not weeks_raw.isdigit():
        raise InvalidInput("Give the weeks of pregnancy as a number.", field="pregnancy_weeks")
    areas: list[PainArea] = []
    for index in range(PAIN_ROWS):
        area = _text(form, f"pain_area_{index}").strip()
        raw = _text(form, f"pain_intensity_{index}").strip()
        if not area and not raw:
            continue
        if not raw.lstrip("-").isdigit():
            raise InvalidInput(
                "Rate the pain from 0 (none) to 10 (worst).", field=f"pain_areas[{len(areas)}].intensity"
            )
        areas.append(PainArea(area=area, intensity=int(raw)))
    return IntakeAnswers(
        current_health_issues=_text(form, "current_health_issues"),
        past_health_issues=_text(form, "past_health_issues"),
        conditions=tuple(str(c) for c in form.getall("conditions", [])),
        medications=_text(form, "medications"),
        takes_blood_thinners=_flag(form, "takes_blood_thinners"),
        surgeries_and_injuries=_text(form, "surgeries_and_injuries"),
        last_surgery_on=last_surgery,
        pregnant=_flag(form, "pregnant"),
        pregnancy_weeks=int(weeks_raw) if weeks_raw else None,
        allergies=_text(form, "allergies"),
        pain_areas=tuple(areas),
        goals=_text(form, "goals"),
        consent=_flag(form, "consent"),
    )


def _form_page(
    practice: Practice,
    token: str,
    first_name: str,
    *,
    values: dict[str, Any] | None = None,
    error: InvalidInput | None = None,
) -> Template:
    return Template(
        template_name="intake/form.html",
        context={
            "practice": practice,
            "action": f"/p/{practice.slug}/intake/{token}",
            "first_name": first_name,
            "conditions": CONDITIONS,
            "pain_rows": PAIN_ROWS,
            "values": values or {},
            "error": error.detail if error else None,
            "error_field": error.field if error else None,
        },
        status_code=error.status if error else 200,
    )


def _values(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {key: str(form.get(key, "")) for key in form}
    values["conditions"] = [str(c) for c in form.getall("conditions", [])]
    return values


class IntakePagesController(Controller):
    path = "/p/{slug:str}/intake"
    include_in_schema = False
    dependencies = {"practice": Provide(provide_public_practice)}

    @get("/thanks", name="intake_thanks")
    async def thanks(self, practice: PathPractice) -> Template:
        return Template(template_name="intake/thanks.html", context={"practice": practice})

    @get("/{token:str}", name="intake_form")
    async def form(self, db_session: DbSession, practice: PathPractice, token: FromPath[str]) -> Template:
        try:
            client = await intake.client_for_link(db_session, token)
        except intake.IntakeLinkInvalid as exc:
            return _expired(practice, exc)
        return _form_page(practice, token, client.first_name)

    @post("/{token:str}", status_code=303)
    async def submit(
        self, request: Request[Any, Any, Any], db_session: DbSession, practice: PathPractice, token: FromPath[str]
    ) -> Template | Redirect:
        try:
            client = await intake.client_for_link(db_session, token)
        except intake.IntakeLinkInvalid as exc:
            return _expired(practice, exc)
        form = await request.form()
        try:
            await intake.submit_intake(db_session, practice, token, answers_from_form(form))
        except InvalidInput as exc:
            return _form_page(practice, token, client.first_name, values=_values(form), error=exc)
        except intake.IntakeLinkInvalid as exc:
            return _expired(practice, exc)
        return Redirect(path=f"/p/{practice.slug}/intake/thanks", status_code=303)


def _expired(practice: Practice, exc: intake.IntakeLinkInvalid) -> Template:
    return Template(
        template_name="intake/expired.html",
        context={"practice": practice, "detail": exc.detail},
        status_code=exc.status,
    )
