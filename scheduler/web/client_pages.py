"""The front desk's client pages: a directory to find a client by name, e-mail or phone, and one client's
overview (contact details, visits, and links to booking, documents and, for clinical roles, health).

Every signed-in staff member may find clients, as with the API's client search; a therapist sees only
the visits on their own schedule. Neither page shows health information (intake answers, conditions,
notes, diagnoses, contraindication flags): that stays on the clinical pages, which only therapists and
owners may open, so the overview links there for those roles only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from scheduler.auth import page_staff
from scheduler.booking import client_visits, hooks, services
from scheduler.booking.day_sheet import Visit
from scheduler.clients import services as client_services
from scheduler.clients.models import Client
from scheduler.deps import CurrentStaff, DbSession, PathPractice
from scheduler.errors import InvalidInput
from scheduler.format import format_date, format_time_range, format_weekday_date, format_weekday_when, tel_href
from scheduler.practice.deps import provide_staff_practice
from scheduler.practice.models import Role, StaffUser
from scheduler.validation import parse_uuid
from scheduler.web.clinical import CLINICAL_ROLES
from scheduler.web.schedule_views import STATUS_LABELS, book_url

DIRECTORY_LIMIT = 50
MAX_QUERY = 100


@dataclass(frozen=True)
class DirectoryRow:
    id: str
    name: str
    email: str
    phone: str
    phone_href: str
    next_visit: str  # "Tue, Mar 2, 2027, 9:00 AM", or "" when none is booked


@dataclass(frozen=True)
class VisitRow:
    id: str
    day: str  # "Tue, Mar 2, 2027"
    time: str  # "9:00 AM to 10:00 AM" with an en dash
    service: str
    therapist: str
    status: str
    status_label: str


def _visit_row(visit: Visit, zone: ZoneInfo) -> VisitRow:
    return VisitRow(
        id=visit.id,
        day=format_weekday_date(visit.start.date()),
        time=format_time_range(visit.start, visit.end, zone),
        service=visit.service_name + (f" ({visit.series_label})" if visit.series_label else ""),
        therapist=visit.therapist_name,
        status=visit.status,
        status_label=STATUS_LABELS.get(visit.status, visit.status),
    )


def may_see_clinical(staff: StaffUser) -> bool:
    return staff.role in CLINICAL_ROLES


class BirthForm(msgspec.Struct):
    date_of_birth: str = ""


def parse_birth_date(raw: str) -> dt.date | None:
    if not raw.strip():
        return None
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput("Enter a date like 1980-05-17.", field="date_of_birth") from None


class ClientPagesController(Controller):
    path = "/staff/clients"
    include_in_schema = False
    dependencies = {"staff": Provide(page_staff()), "practice": Provide(provide_staff_practice)}

    @get("/", name="staff_clients")
    async def directory(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, q: FromQuery[str] = ""
    ) -> Template:
        """Find a client. With no query the page lists the clients expected next (a visit from today on,
        soonest first): the people most likely to phone or walk in today, to say they are running late,
        move a visit or ask for a receipt. Results stop at 50 with a request to refine the search."""
        query = q.strip()[:MAX_QUERY]
        now = services.utcnow()
        zone = ZoneInfo(practice.timezone)
        if query:
            found = await client_services.search_clients(db_session, query, DIRECTORY_LIMIT + 1)
        else:
            found = await client_visits.clients_expected_soon(db_session, practice, staff, now, DIRECTORY_LIMIT + 1)
        shown: list[Client] = found[:DIRECTORY_LIMIT]
        next_visits = await client_visits.next_visits(db_session, practice, staff, [c.id for c in shown], now)
        rows = [
            DirectoryRow(
                id=str(c.id),
                name=c.full_name,
                email=c.email,
                phone=c.phone,
                phone_href=tel_href(c.phone) if c.phone else "",
                next_visit=format_weekday_when(next_visits[c.id], zone) if c.id in next_visits else "",
            )
            for c in shown
        ]
        return Template(
            template_name="staff/clients.html",
            context={
                "practice": practice,
                "user": staff,
                "query": query,
                "rows": rows,
                "too_many": len(found) > DIRECTORY_LIMIT,
                "limit": DIRECTORY_LIMIT,
            },
        )

    @get("/{client_id:str}", name="staff_client")
    async def overview(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        client_id: FromPath[str],
        saved: FromQuery[str] = "",
    ) -> Template:
        client = await client_services.get_client(db_session, parse_uuid(client_id, "client_id"))
        now = services.utcnow()
        zone = ZoneInfo(practice.timezone)
        visits = await client_visits.client_visits(db_session, practice, staff, client, now)
        today = now.astimezone(zone).date()
        return Template(
            template_name="staff/client.html",
            context={
                "practice": practice,
                "user": staff,
                "client": client,
                "phone_href": tel_href(client.phone) if client.phone else "",
                "date_of_birth": format_date(client.date_of_birth) if client.date_of_birth else "",
                "address": client.address_lines,
                "upcoming": [_visit_row(v, zone) for v in visits.upcoming],
                "past": [_visit_row(v, zone) for v in visits.past],
                "more_past": visits.more_past,
                "book_url": book_url(today, client_id=str(client.id)),
                "clinical": may_see_clinical(staff),
                "own_only": staff.role is Role.THERAPIST,
                "birth_date_value": client.date_of_birth.isoformat() if client.date_of_birth else "",
                "saved": saved,
                "money_notes": await hooks.client_page_notes(db_session, client),
            },
        )

    @post("/{client_id:str}/date-of-birth", status_code=303)
    async def set_date_of_birth(
        self, db_session: DbSession, staff: CurrentStaff, client_id: FromPath[str], data: URLEncodedBody[BirthForm]
    ) -> Redirect:
        """The desk fills in a date of birth (a superbill's checklist links here); a bad date is a 400 page."""
        client = await client_services.get_client(db_session, parse_uuid(client_id, "client_id"))
        await client_services.set_date_of_birth(db_session, client, parse_birth_date(data.date_of_birth))
        return Redirect(path=f"/staff/clients/{client.id}?saved=date-of-birth", status_code=303)
