"""The client portal's pages under /p/{slug}/portal: sign in by e-mailed link, see and manage your visits.

Opening an e-mailed link (GET) only shows a "Sign in" button; pressing it (POST) spends the link. Mail
security scanners open every link in a message first, and must not use up the client's one click.

A portal session holds the client's id and their practice's id under keys of its own (a staff session
in the same browser is left alone). Every page resolves the practice from the slug, scopes the database
session to it and then requires the session's practice to be that one, so a client signed in at one
practice sees nothing of another.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.stores.base import Store

from scheduler.booking import services as booking
from scheduler.booking.models import Appointment
from scheduler.booking.visits import appointment_event_view, visit_facts, visits_facts
from scheduler.clients import portal
from scheduler.clients.models import Client
from scheduler.db import NO_WRITE_INTENT
from scheduler.deps import AppSettings, DbSession, PathPractice
from scheduler.errors import CarebookError, InvalidInput, NotAuthenticated, TooManyAttempts
from scheduler.feeds.ical import single_event_calendar
from scheduler.format import format_long_day, format_time
from scheduler.practice.deps import provide_public_practice
from scheduler.practice.models import Practice
from scheduler.practice.services import hash_token
from scheduler.validation import parse_uuid
from scheduler.web.booking_pages import PRIVATE_HEADERS
from scheduler.web.session import rotate_session

PORTAL_STORE = "portal"
CLIENT_KEY = "client_id"
CLIENT_PRACTICE_KEY = "client_practice_id"
LINKS_PER_HOUR = 5
# Per client address, on top of the per-e-mail limit: slows down one machine trying many addresses.
PORTAL_RATE_LIMIT = RateLimitConfig(rate_limit=("minute", 20), store=PORTAL_STORE)


PortalClient: TypeAlias = NamedDependency[Client]


class PortalSignInRequired(NotAuthenticated):
    """No portal session for this practice: pages send the visitor to the portal's sign-in form."""


class LinkRequestForm(msgspec.Struct):
    email: str = ""


class RescheduleForm(msgspec.Struct):
    start: str = ""


class SignInLinkThrottle:
    """At most LINKS_PER_HOUR link requests per e-mail address and practice, known address or not."""

    window_seconds = 3600

    def __init__(self, store: Store, limit: int = LINKS_PER_HOUR) -> None:
        self.store = store
        self.limit = limit

    @staticmethod
    def _key(practice: Practice, email: str) -> str:
        return "link:" + hash_token(f"{practice.id}:{email}")

    async def hit(self, practice: Practice, email: str) -> None:
        key = self._key(practice, email)
        raw = await self.store.get(key)
        count = int(raw) if raw is not None else 0
        if count >= self.limit:
            retry_after = await self.store.expires_in(key) or self.window_seconds
            raise TooManyAttempts(
                "We have sent several links to this address in the last hour. Please use one of those, "
                "or try again later.",
                retry_after=max(retry_after, 1),
            )
        remaining = await self.store.expires_in(key) if raw is not None else None
        await self.store.set(key, str(count + 1).encode(), expires_in=remaining or self.window_seconds)


def _session_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    data = request.scope.get("session")
    return dict(data) if isinstance(data, dict) else {}


def _signed_in_id(request: Request[Any, Any, Any], practice: Practice) -> uuid.UUID | None:
    data = _session_data(request)
    if data.get(CLIENT_PRACTICE_KEY) != str(practice.id):
        return None
    try:
        return uuid.UUID(str(data.get(CLIENT_KEY)))
    except ValueError:
        return None


async def provide_portal_client(
    request: Request[Any, Any, Any], db_session: DbSession, practice: PathPractice
) -> Client:
    client_id = _signed_in_id(request, practice)
    client = await portal.get_signed_in_client(db_session, client_id) if client_id else None
    if client is None:
        raise PortalSignInRequired("Please sign in to see your visits.")
    return client


def _to_sign_in(request: Request[Any, Any, Any], _exc: PortalSignInRequired) -> Response[Any]:
    slug = str(request.path_params.get("slug", ""))
    return Redirect(path=f"/p/{slug}/portal", status_code=303)


def _base(practice: Practice) -> str:
    return f"/p/{practice.slug}/portal"


def _start_page(practice: Practice, *, error: str | None = None, email: str = "", status_code: int = 200) -> Template:
    return Template(
        template_name="portal/start.html",
        context={"practice": practice, "portal": _base(practice), "error": error, "email": email},
        status_code=status_code,
    )


def _link_expired_page(practice: Practice, exc: portal.SignInLinkInvalid) -> Template:
    return Template(
        template_name="portal/link_expired.html",
        context={"practice": practice, "portal": _base(practice), "detail": exc.detail},
        status_code=exc.status,
        headers=PRIVATE_HEADERS,
    )


class PortalPagesController(Controller):
    path = "/p/{slug:str}/portal"
    include_in_schema = False
    dependencies = {"practice": Provide(provide_public_practice)}
    exception_handlers = {PortalSignInRequired: _to_sign_in}

    @get("/", name="portal_start")
    async def start(self, request: Request[Any, Any, Any], practice: PathPractice) -> Template | Redirect:
        if _signed_in_id(request, practice) is not None:
            return Redirect(path=f"{_base(practice)}/home")
        return _start_page(practice)

    # The throttle writes through its own store connection after the practice was read: the write lock comes
    # later, from the sign-in link's own write.
    @post("/", middleware=[PORTAL_RATE_LIMIT.middleware], status_code=200, opt=NO_WRITE_INTENT)
    async def request_link(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        practice: PathPractice,
        settings: AppSettings,
        data: URLEncodedBody[LinkRequestForm],
    ) -> Template:
        try:
            email = portal.clean_email(data.email)
            await SignInLinkThrottle(request.app.stores.get(PORTAL_STORE)).hit(practice, email)
        except (InvalidInput, TooManyAttempts) as exc:
            return _start_page(practice, error=exc.detail, email=data.email, status_code=exc.status)
        await portal.request_sign_in_link(db_session, practice, email, base_url=settings.base_url)
        return Template(
            template_name="portal/link_sent.html",
            context={"practice": practice, "portal": _base(practice), "email": email},
        )

    @get("/sign-in/{token:str}")
    async def confirm_sign_in(self, db_session: DbSession, practice: PathPractice, token: FromPath[str]) -> Template:
        try:
            await portal.check_sign_in_link(db_session, token)
        except portal.SignInLinkInvalid as exc:
            return _link_expired_page(practice, exc)
        return Template(
            template_name="portal/sign_in_confirm.html",
            context={"practice": practice, "portal": _base(practice), "action": f"{_base(practice)}/sign-in/{token}"},
            headers=PRIVATE_HEADERS,
        )

    @post("/sign-in/{token:str}", status_code=303)
    async def sign_in(
        self, request: Request[Any, Any, Any], db_session: DbSession, practice: PathPractice, token: FromPath[str]
    ) -> Template | Redirect:
        try:
            client = await portal.redeem_sign_in_link(db_session, token)
        except portal.SignInLinkInvalid as exc:
            return _link_expired_page(practice, exc)
        rotate_session(
            request, {**_session_data(request), CLIENT_KEY: str(client.id), CLIENT_PRACTICE_KEY: str(practice.id)}
        )
        return Redirect(path=f"{_base(practice)}/home", status_code=303)

    @post("/sign-out", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any], practice: PathPractice) -> Redirect:
        remaining = {k: v for k, v in _session_data(request).items() if k not in {CLIENT_KEY, CLIENT_PRACTICE_KEY}}
        if remaining:
            request.set_session(remaining)
        else:
            request.clear_session()
        return Redirect(path=_base(practice), status_code=303)

    @get("/home", dependencies={"client": Provide(provide_portal_client)})
    async def home(self, db_session: DbSession, practice: PathPractice, client: PortalClient) -> Template:
        upcoming, past = await portal.client_visits(db_session, client)
        return Template(
            template_name="portal/home.html",
            context={
                "practice": practice,
                "portal": _base(practice),
                "client": client,
                "signed_in": True,
                "upcoming": await visits_facts(db_session, practice, upcoming),
                "past": await visits_facts(db_session, practice, past),
            },
        )

    @get("/appointments/{appointment_id:str}", dependencies={"client": Provide(provide_portal_client)})
    async def appointment(
        self,
        db_session: DbSession,
        practice: PathPractice,
        client: PortalClient,
        appointment_id: FromPath[str],
        date: FromQuery[str | None] = None,
        changed: FromQuery[str | None] = None,
    ) -> Template:
        appointment = await portal.client_visit(db_session, client, parse_uuid(appointment_id, "appointment_id"))
        return await _appointment_page(db_session, practice, client, appointment, date=date, changed=changed)

    @post(
        "/appointments/{appointment_id:str}/reschedule",
        dependencies={"client": Provide(provide_portal_client)},
        status_code=303,
    )
    async def reschedule(
        self,
        db_session: DbSession,
        practice: PathPractice,
        settings: AppSettings,
        client: PortalClient,
        appointment_id: FromPath[str],
        data: URLEncodedBody[RescheduleForm],
    ) -> Template | Redirect:
        appointment = await portal.client_visit(db_session, client, parse_uuid(appointment_id, "appointment_id"))
        try:
            start = _parse_start(data.start)
            await booking.reschedule(
                db_session, practice, appointment, start=start, actor=booking.CLIENT, base_url=settings.base_url
            )
        except CarebookError as exc:
            # A refused change may have rolled back a savepoint that held the appointment: read it afresh.
            await db_session.refresh(appointment)
            return await _appointment_page(db_session, practice, client, appointment, error=exc)
        return Redirect(path=f"{_base(practice)}/appointments/{appointment.id}?changed=moved", status_code=303)

    @post(
        "/appointments/{appointment_id:str}/cancel",
        dependencies={"client": Provide(provide_portal_client)},
        status_code=303,
    )
    async def cancel(
        self,
        db_session: DbSession,
        practice: PathPractice,
        settings: AppSettings,
        client: PortalClient,
        appointment_id: FromPath[str],
    ) -> Template | Redirect:
        appointment = await portal.client_visit(db_session, client, parse_uuid(appointment_id, "appointment_id"))
        try:
            await booking.cancel(
                db_session,
                practice,
                appointment,
                reason="Cancelled by the client in the portal",
                actor=booking.CLIENT,
                base_url=settings.base_url,
            )
        except CarebookError as exc:
            # A refused change may have rolled back a savepoint that held the appointment: read it afresh.
            await db_session.refresh(appointment)
            return await _appointment_page(db_session, practice, client, appointment, error=exc)
        return Redirect(path=f"{_base(practice)}/appointments/{appointment.id}?changed=cancelled", status_code=303)

    @get(
        "/appointments/{appointment_id:str}/calendar.ics",
        dependencies={"client": Provide(provide_portal_client)},
        media_type="text/calendar; charset=utf-8",
    )
    async def calendar(
        self, db_session: DbSession, practice: PathPractice, client: PortalClient, appointment_id: FromPath[str]
    ) -> Response[bytes]:
        appointment = await portal.client_visit(db_session, client, parse_uuid(appointment_id, "appointment_id"))
        body = single_event_calendar(await appointment_event_view(db_session, practice, appointment))
        return Response(
            body,
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="appointment.ics"', "Cache-Control": "no-store"},
        )


def _parse_start(raw: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput("Choose one of the free times.", field="start") from None


def _parse_day(raw: str | None, fallback: dt.date) -> dt.date:
    if not raw:
        return fallback
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return fallback


async def _appointment_page(
    db_session: DbSession,
    practice: Practice,
    client: Client,
    appointment: Appointment,
    *,
    date: str | None = None,
    changed: str | None = None,
    error: CarebookError | None = None,
) -> Template:
    visit = await visit_facts(db_session, practice, appointment)
    zone = ZoneInfo(practice.timezone)
    day = _parse_day(date, visit.start.date())
    slots: list[dict[str, str]] = []
    slots_error: str | None = None
    if visit.can_change and date is not None:
        try:
            found = await booking.availability(
                db_session,
                practice,
                service_id=appointment.service_id,
                date_from=day,
                date_to=day,
                therapist_id=appointment.therapist_id,
                online=True,
                moving=appointment.id,
            )
        except CarebookError as exc:
            slots_error = exc.detail
        else:
            slots = [
                {"value": s.start.isoformat(), "label": format_time(s.start, zone)}
                for s in found
                if s.therapist_id == appointment.therapist_id
            ]
    return Template(
        template_name="portal/appointment.html",
        context={
            "practice": practice,
            "portal": _base(practice),
            "client": client,
            "signed_in": True,
            "visit": visit,
            "day": day.isoformat(),
            "day_label": format_long_day(day),
            "searched": date is not None,
            "slots": slots,
            "slots_error": slots_error,
            "changed": changed if changed in {"moved", "cancelled"} else None,
            "error": error.detail if error else None,
        },
        status_code=error.status if error else 200,
    )
