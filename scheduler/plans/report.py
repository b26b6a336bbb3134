"""A plan's progress as people read it: the plan, measures over time with the chart, attendance.

One read model (`progress_view`) feeds the therapist's plan page, the client's portal and the progress
report PDF a client hands their physician (`progress_report_pdf`, WeasyPrint from templates/reports/).
The client's views never carry the therapist's private assessment notes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.booking.models import Appointment, AppointmentSeries, AppointmentStatus
from scheduler.clients.models import Client
from scheduler.format import FILTERS, format_date
from scheduler.plans.assessment_models import Assessment
from scheduler.plans.assessments import list_assessments, progress_of
from scheduler.plans.measures import MeasureSeries
from scheduler.plans.models import LetterOfMedicalNecessity, TreatmentPlan
from scheduler.plans.progress_chart import progress_chart_svg
from scheduler.practice.models import Practice, Service, Therapist
from scheduler.settings import TEMPLATES_DIR

WEEKDAYS = {
    "MO": "Monday",
    "TU": "Tuesday",
    "WE": "Wednesday",
    "TH": "Thursday",
    "FR": "Friday",
    "SA": "Saturday",
    "SU": "Sunday",
}
UNITS = {"daily": ("day", "days"), "weekly": ("week", "weeks"), "monthly": ("month", "months")}

_pdf_templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_pdf_templates.filters.update(FILTERS)  # the report writes dates as the pages do ('Mar 2, 2027')


def describe_frequency(frequency: dict[str, Any]) -> str:
    """{"freq": "weekly", "interval": 2, "weekdays": ["TU"]} → "Every 2 weeks on Tuesday"."""
    freq = str(frequency.get("freq", ""))
    interval = int(frequency.get("interval") or 1)
    one, many = UNITS.get(freq, (freq or "visit", freq or "visits"))
    days = [WEEKDAYS.get(str(d).upper(), str(d)) for d in frequency.get("weekdays") or []]
    if freq == "weekly" and interval == 1 and len(days) == 2:
        text = "Twice weekly"
    elif interval == 1:
        text = {"daily": "Daily", "weekly": "Weekly", "monthly": "Monthly"}.get(freq, f"Every {one}")
    else:
        text = f"Every {interval} {many}"
    if days:
        text += " on " + " and ".join(days)
    return text


@dataclass(frozen=True)
class Attendance:
    completed: int = 0
    upcoming: int = 0
    cancelled: int = 0
    no_show: int = 0

    @property
    def planned(self) -> int:
        return self.completed + self.upcoming + self.no_show


@dataclass(frozen=True)
class AssessmentRow:
    on: dt.date
    label: str  # "Baseline" / "Re-assessment"
    values: dict[str, str]  # measure key → "7" / "45°"
    notes: str  # empty in the client's views


@dataclass(frozen=True)
class ProgressView:
    practice_name: str
    practice_lines: list[str]
    client_name: str
    client_dob: dt.date | None
    therapist_name: str
    service_name: str
    plan: TreatmentPlan
    frequency_text: str
    length_text: str
    lmn: LetterOfMedicalNecessity | None
    measures: list[MeasureSeries]
    rows: list[AssessmentRow]
    chart_svg: str
    attendance: Attendance
    generated_on: dt.date
    extra: dict[str, Any] = field(default_factory=dict)


async def plan_attendance(session: AsyncSession, plan: TreatmentPlan, now: dt.datetime | None = None) -> Attendance:
    """The plan's visits by outcome: booked straight onto the plan or through one of its series."""
    now = now or dt.datetime.now(dt.UTC)
    series_ids = select(AppointmentSeries.id).where(AppointmentSeries.plan_id == plan.id).scalar_subquery()
    rows = await session.execute(
        select(Appointment.status, Appointment.end_at).where(
            or_(Appointment.plan_id == plan.id, Appointment.series_id.in_(series_ids))
        )
    )
    counts = {"completed": 0, "upcoming": 0, "cancelled": 0, "no_show": 0}
    for status, end_at in rows:
        if status == AppointmentStatus.COMPLETED:
            counts["completed"] += 1
        elif status == AppointmentStatus.CANCELLED:
            counts["cancelled"] += 1
        elif status == AppointmentStatus.NO_SHOW:
            counts["no_show"] += 1
        elif end_at > now:
            counts["upcoming"] += 1
    return Attendance(**counts)


def _cell(series: MeasureSeries, value: float) -> str:
    text = str(int(value)) if float(value).is_integer() else f"{value:.1f}"
    return f"{text}°" if series.unit == "°" else text


def _rows(assessments: list[Assessment], measures: list[MeasureSeries], *, with_notes: bool) -> list[AssessmentRow]:
    rows = []
    for index, assessment in enumerate(assessments):
        values = {}
        for series in measures:
            for day, value in series.points:
                if day == assessment.assessed_on:
                    values[series.key] = _cell(series, value)
        label = "Baseline" if assessment.is_baseline else ("Assessment" if index == 0 else "Re-assessment")
        rows.append(AssessmentRow(assessment.assessed_on, label, values, assessment.notes if with_notes else ""))
    return rows


async def progress_view(
    session: AsyncSession, practice: Practice, plan: TreatmentPlan, *, for_client: bool = False
) -> ProgressView:
    client = await session.get_one(Client, plan.client_id)
    therapist = await session.get(Therapist, plan.therapist_id)
    service = await session.get(Service, plan.service_id)
    lmn = await session.scalar(
        select(LetterOfMedicalNecessity)
        .where(LetterOfMedicalNecessity.plan_id == plan.id)
        .order_by(LetterOfMedicalNecessity.signed_on.desc())
        .limit(1)
    )
    assessments = await list_assessments(session, plan)
    measures = progress_of(assessments)
    if plan.sessions:
        length = f"{plan.sessions} sessions"
    elif plan.until:
        length = f"until {format_date(plan.until)}"
    else:
        length = ""
    if plan.reassess_every:
        length += f", re-assessed every {plan.reassess_every} sessions"
    return ProgressView(
        practice_name=practice.name,
        practice_lines=[*practice.address_lines, *([practice.phone] if practice.phone else [])],
        client_name=client.full_name,
        client_dob=client.date_of_birth,
        therapist_name=therapist.display_name if therapist else "",
        service_name=service.name if service else "",
        plan=plan,
        frequency_text=describe_frequency(plan.frequency or {}),
        length_text=length,
        lmn=lmn,
        measures=measures,
        rows=_rows(assessments, measures, with_notes=not for_client),
        chart_svg=progress_chart_svg(measures),
        attendance=await plan_attendance(session, plan),
        generated_on=dt.datetime.now(ZoneInfo(practice.timezone)).date(),
    )


def render_report_html(view: ProgressView) -> str:
    return _pdf_templates.get_template("reports/progress_report.html").render(view=view)


def _pdf(html: str) -> bytes:
    from weasyprint import HTML  # heavy: imported only when a PDF is made

    return bytes(HTML(string=html, base_url=str(TEMPLATES_DIR)).write_pdf())


async def progress_report_pdf(session: AsyncSession, practice: Practice, plan: TreatmentPlan) -> bytes:
    """The progress report a client hands their physician (no private notes), as PDF bytes."""
    view = await progress_view(session, practice, plan, for_client=True)
    return await asyncio.to_thread(_pdf, render_report_html(view))
