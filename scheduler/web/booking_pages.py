"""Client booking pages (`/p/{slug}/book`) and the manage link's pages (`/p/{slug}/manage/{token}`).

Server-rendered and usable without JavaScript: each GET step carries the choices so far in its query
string, forms post and redirect. The pages call the same booking services as the public JSON API.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from scheduler.booking import hooks
from scheduler.booking import services as booking
from scheduler.booking.controllers import calendar_url, manage_url
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.clients.services import ClientDetails
from scheduler.deps import AppSettings, DbSession, PathPractice
from scheduler.error_handlers import handle_domain_error, wants_problem_json
from scheduler.errors import CarebookError, Conflict, InvalidInput, NotFound, RuleViolation, SlotTaken
from scheduler.format import format_long_day, format_money, format_time, format_time_range, format_when, zone_name
from scheduler.practice import services as practice_services
from scheduler.practice.deps import provide_public_practice
from scheduler.practice.models import Practice, Service, Therapist
from scheduler.validation import parse_uuid
from scheduler.web.booking_views import (
    ANY,
    STATUS_LABELS,
    FormError,
    page_context,
    parse_start,
    service_card,
    therapist_card,
    therapist_param,
    url,
    week_start,
    week_view,
)

# The manage pages carry a secret in their URL: never cache them, never send it on as a referrer.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
# Errors a client can fix on the form they just sent; anything else is an error page.
FIXABLE = (InvalidInput, RuleViolation, Conflict)
CLIENT_FIELDS = ("first_name", "last_name", "email", "phone")
CHANGEABLE = {AppointmentStatus.BOOKED, AppointmentStatus.PENDING_PAYMENT}


class DetailsForm(msgspec.Struct):
    service_id: str = ""
    therapist_id: str = ANY
    start: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""


class MoveForm(msgspec.Struct):
    start: str = ""


class CancelForm(msgspec.Struct):
    reason: str = ""


async def provide_page_practice(
    request: Request[Any, Any, Any], slug: FromPath[str], db_session: DbSession
) -> Practice:
    """The practice named in the path, kept on the request so an error page can still wear its name."""
    practice = await provide_public_practice(slug, db_session)
    request.state.booking_practice = practice
    return practice


def handle_page_error(request: Request[Any, Any, Any], exc: CarebookError) -> Response[Any]:
    """An unknown link or a tampered query: the practice's own error page, with a way back to booking."""
    practice = getattr(request.state, "booking_practice", None)
    if practice is None or wants_problem_json(request):
        return handle_domain_error(request, exc)
    return Template(
        template_name="booking/problem.html",
        context=page_context(practice) | {"title": exc.title, "detail": exc.detail, "status": exc.status},
        status_code=exc.status,
        media_type=MediaType.HTML,
        headers=PRIVATE_HEADERS,
    )


class BookingPagesController(Controller):
    """What a client sees: book a visit in four steps, then view, move or cancel it from the manage link."""

    path = "/p/{slug:str}"
    include_in_schema = False
    # Clients are anonymous here: no server-side session row per visitor. (On SQLite, the session store's
    # write would also wait on the booking's own write lock, which is released only after the response.)
    opt = {"skip_session": True}
    dependencies = {"practice": Provide(provide_page_practice)}
    exception_handlers = {CarebookError: handle_page_error}

    # --- booking: service -> therapist -> time -> details ------------------------------------------------------

    @get("/book", name="book_services")
    async def services_page(self, db_session: DbSession, practice: PathPractice) -> Template:
        offered = await practice_services.list_services(db_session, public=True)
        cards = [
            {**service_card(practice, s), "href": url(f"/p/{practice.slug}/book/therapist", service_id=str(s.id))}
            for s in offered
        ]
        return Template(template_name="booking/services.html", context=page_context(practice) | {"services": cards})

    @get("/book/therapist", name="book_therapist")
    async def therapist_page(
        self, db_session: DbSession, practice: PathPractice, service_id: FromQuery[str] = ""
    ) -> Template | Redirect:
        if not service_id:
            return Redirect(path=f"/p/{practice.slug}/book")
        service = await booking.get_service(db_session, parse_uuid(service_id, "service_id"), online=True)
        therapists = await booking.therapists_for(db_session, service, None)
        time_path = f"/p/{practice.slug}/book/time"
        choices = [
            {**therapist_card(t), "href": url(time_path, service_id=str(service.id), therapist_id=str(t.id))}
            for t in therapists
        ]
        return Template(
            template_name="booking/therapists.html",
            context=page_context(practice)
            | {
                "service": service_card(practice, service),
                "any_href": url(time_path, service_id=str(service.id), therapist_id=ANY),
                "therapists": choices,
            },
        )

    @get("/book/time", name="book_time")
    async def time_page(
        self,
        db_session: DbSession,
        practice: PathPractice,
        service_id: FromQuery[str] = "",
        therapist_id: FromQuery[str | None] = None,
        week: FromQuery[dt.date | None] = None,
    ) -> Template | Redirect:
        if not service_id:
            return Redirect(path=f"/p/{practice.slug}/book")
        service, therapist = await self._choice(db_session, service_id, therapist_id)
        chosen = str(therapist.id) if therapist else ANY
        first = week_start(practice, week)
        slots = await booking.availability(
            db_session,
            practice,
            service_id=service.id,
            therapist_id=therapist.id if therapist else None,
            date_from=first,
            date_to=first + dt.timedelta(days=6),
        )
        base = f"/p/{practice.slug}/book"
        ids = {"service_id": str(service.id), "therapist_id": chosen}
        picker = week_view(
            practice,
            first,
            slots,
            slot_href=lambda start: url(f"{base}/details", **ids, start=start),
            week_href=lambda day: url(f"{base}/time", **ids, week=day),
        )
        return Template(
            template_name="booking/time.html",
            context=page_context(practice)
            | {
                "service": service_card(practice, service),
                "therapist": therapist_card(therapist) if therapist else None,
                "week": picker,
                "therapist_href": url(f"{base}/therapist", service_id=str(service.id)),
            },
        )

    @get("/book/details", name="book_details")
    async def details_page(
        self,
        db_session: DbSession,
        practice: PathPractice,
        service_id: FromQuery[str] = "",
        therapist_id: FromQuery[str | None] = None,
        start: FromQuery[str] = "",
    ) -> Template | Redirect:
        if not service_id:
            return Redirect(path=f"/p/{practice.slug}/book")
        form = DetailsForm(service_id=service_id, therapist_id=therapist_param(therapist_id), start=start)
        return await self._details(db_session, practice, form, errors=[])

    @post("/book/details", name="book_submit", status_code=303)
    async def book(
        self,
        db_session: DbSession,
        practice: PathPractice,
        settings: AppSettings,
        data: URLEncodedBody[DetailsForm],
    ) -> Template | Redirect:
        service, therapist = await self._choice(db_session, data.service_id, data.therapist_id)
        start = parse_start(data.start)
        try:
            booked = await booking.book_online(
                db_session,
                practice,
                service_id=service.id,
                therapist_id=therapist.id if therapist else None,
                start=start,
                client=ClientDetails(
                    first_name=data.first_name, last_name=data.last_name, email=data.email, phone=data.phone
                ),
                base_url=settings.base_url,
            )
        except FIXABLE as exc:
            field_name = (exc.field or "").removeprefix("client.")
            error = FormError(exc.detail, field_name if field_name in CLIENT_FIELDS else None)
            return await self._details(db_session, practice, data, errors=[error], status=exc.status, failure=exc)
        if booked.checkout_url:
            # The practice asks for a deposit (or a card on file): the client pays (or saves a card) on the hosted
            # checkout page, which comes back to billing's return page.
            return Redirect(path=booked.checkout_url, status_code=303)
        return Redirect(
            path=url(f"/p/{practice.slug}/manage/{booked.manage_token}", booked="1"),
            status_code=303,
        )

    # --- the manage link: view, move, cancel ------------------------------------------------------------------

    @get("/manage/{token:str}", name="manage")
    async def manage_page(
        self,
        db_session: DbSession,
        practice: PathPractice,
        settings: AppSettings,
        token: FromPath[str],
        booked: FromQuery[str | None] = None,
        moved: FromQuery[str | None] = None,
        cancelled: FromQuery[str | None] = None,
    ) -> Template:
        appointment = await booking.get_by_manage_token(db_session, token)
        notice = None
        if moved and appointment.is_live:
            notice = "Your appointment has been moved."
        elif cancelled and appointment.status is AppointmentStatus.CANCELLED:
            notice = "Your appointment has been cancelled."
        context = await self._visit_context(db_session, practice, settings, appointment, token)
        context |= {"just_booked": bool(booked) and appointment.is_live, "notice": notice, "errors": []}
        return Template(template_name="booking/manage.html", context=context, headers=PRIVATE_HEADERS)

    @get("/manage/{token:str}/move", name="manage_move")
    async def move_page(
        self,
        db_session: DbSession,
        practice: PathPractice,
        settings: AppSettings,
        token: FromPath[str],
        week: FromQuery[dt.date | None] = None,
        start: FromQuery[str | None] = None,
    ) -> Template:
        appointment = await booking.get_by_manage_token(db_session, token)
        confirm = parse_start(start) if start else None
        return await self._move(db_session, practice, settings, appointment, token, week=week, confirm=confirm)

    @post("/manage/{token:str}/move", name="manage_move_submit", status_code=303)
    async def move(
        self,
        db_session: DbSession,
        practice: PathPractice,
        settings: AppSettings,
        token: FromPath[str],
        data: URLEncodedBody[MoveForm],
    ) -> Template | Redirect:
        appointment = await booking.get_by_manage_token(db_session, token)
        week = None
        try:
            start = parse_start(data.start)
            week = start.astimezone(ZoneInfo(practice.timezone)).date()
            await booking.reschedule(
                db_session, practice, appointment, start=start, actor=booking.CLIENT, base_url=settings.base_url
            )
        except FIXABLE as exc:
            # A refused move may leave the appointment's attributes expired: read them again to show it.
            await db_session.refresh(appointment)
            return await self._move(
                db_session,
                practice,
                settings,
                appointment,
                token,
                week=week,
                errors=[FormError(exc.detail)],
                status=exc.status,
            )
        return Redirect(path=url(f"/p/{practice.slug}/manage/{token}", moved="1"), status_code=303)

    @post("/manage/{token:str}/cancel", name="manage_cancel", status_code=303)
    async def cancel(
        self,
        db_session: DbSession,
        practice: PathPractice,
        settings: AppSettings,
        token: FromPath[str],
        data: URLEncodedBody[CancelForm],
    ) -> Template | Redirect:
        appointment = await booking.get_by_manage_token(db_session, token)
        try:
            await booking.cancel(
                db_session, practice, appointment, reason=data.reason, actor=booking.CLIENT, base_url=settings.base_url
            )
        except FIXABLE as exc:
            await db_session.refresh(appointment)
            context = await self._visit_context(db_session, practice, settings, appointment, token)
            context |= {"just_booked": False, "notice": None, "errors": [FormError(exc.detail)]}
            return Template(
                template_name="booking/manage.html", context=context, status_code=exc.status, headers=PRIVATE_HEADERS
            )
        return Redirect(path=url(f"/p/{practice.slug}/manage/{token}", cancelled="1"), status_code=303)

    # --- helpers ----------------------------------------------------------------------------------------------

    @staticmethod
    async def _choice(
        db_session: DbSession, service_id: str, therapist_id: str | None
    ) -> tuple[Service, Therapist | None]:
        """The service (bookable online) and the therapist chosen so far, or None for 'any'."""
        service = await booking.get_service(db_session, parse_uuid(service_id, "service_id"), online=True)
        chosen = therapist_param(therapist_id)
        if chosen == ANY:
            return service, None
        therapists = await booking.therapists_for(db_session, service, parse_uuid(chosen, "therapist_id"))
        return service, therapists[0]

    async def _details(
        self,
        db_session: DbSession,
        practice: Practice,
        form: DetailsForm,
        *,
        errors: list[FormError],
        status: int = 200,
        failure: CarebookError | None = None,
    ) -> Template:
        """Step 4: what was chosen, and the form for the client's details (with any errors, values kept)."""
        service, therapist = await self._choice(db_session, form.service_id, form.therapist_id)
        zone = ZoneInfo(practice.timezone)
        start = parse_start(form.start).astimezone(zone)
        end = start + dt.timedelta(minutes=service.duration_minutes)
        ids = {"service_id": str(service.id), "therapist_id": str(therapist.id) if therapist else ANY}
        base = f"/p/{practice.slug}/book"
        # The chosen time itself is the problem (taken, too soon, gone): offer the way back to step 3.
        choose_again = failure is not None and (isinstance(failure, SlotTaken) or failure.field in {"start", None})
        return Template(
            template_name="booking/details.html",
            context=page_context(practice)
            | {
                "service": service_card(practice, service),
                "therapist": therapist_card(therapist) if therapist else None,
                "ids": ids,
                "start": start.isoformat(),
                "day": format_long_day(start.date()),
                "time": format_time_range(start, end, zone),
                "zone": zone_name(zone),
                "form": form,
                "errors": errors,
                "field_errors": {e.field: e.message for e in errors if e.field},
                "choose_again": choose_again,
                "time_href": url(f"{base}/time", **ids, week=start.date().isoformat()),
                "action": f"{base}/details",
                # What the practice's payment rules mean for this booking (billing answers through the hook).
                "payment_notes": await hooks.booking_page_notes(db_session, practice),
            },
            status_code=status,
        )

    async def _visit_context(
        self, db_session: DbSession, practice: Practice, settings: AppSettings, appointment: Appointment, token: str
    ) -> dict[str, Any]:
        """The visit as the client sees it, and what they may still do with it online."""
        service = await db_session.get_one(Service, appointment.service_id)
        therapist = await db_session.get_one(Therapist, appointment.therapist_id)
        zone = ZoneInfo(practice.timezone)
        now = booking.utcnow()
        start = appointment.start_at.astimezone(zone)
        open_status = appointment.status in CHANGEABLE
        late = booking.in_cancellation_window(practice, appointment, now)
        deadline = appointment.start_at - dt.timedelta(hours=practice.cancellation_window_hours)
        manage_path = f"/p/{practice.slug}/manage/{token}"
        return page_context(practice) | {
            "visit": {
                "service": service.name,
                "therapist": therapist.display_name,
                "day": format_long_day(start.date()),
                "when": format_when(start, zone),
                "time": format_time_range(start, appointment.end_at, zone),
                "zone": zone_name(zone),
                "status": appointment.status.value,
                "status_label": STATUS_LABELS.get(appointment.status.value, appointment.status.value),
                "price": format_money(service.price, practice.currency),
            },
            "is_live": appointment.is_live,
            "can_change": open_status and not late,
            "too_late": open_status and late,
            "has_passed": appointment.start_at <= now,
            "deadline": format_when(deadline, zone),
            "window_hours": practice.cancellation_window_hours,
            "manage_url": manage_url(settings.base_url, practice, token),
            "manage_href": manage_path,
            "calendar_href": calendar_url("", practice, token),
            "move_href": f"{manage_path}/move",
            "cancel_action": f"{manage_path}/cancel",
        }

    async def _move(
        self,
        db_session: DbSession,
        practice: Practice,
        settings: AppSettings,
        appointment: Appointment,
        token: str,
        *,
        week: dt.date | None,
        confirm: dt.datetime | None = None,
        errors: list[FormError] | None = None,
        status: int = 200,
    ) -> Template:
        """The time picker for a move (that therapist, that service), or the confirmation of one chosen time."""
        context = await self._visit_context(db_session, practice, settings, appointment, token)
        context |= {"errors": errors or [], "week": None, "confirm": None, "unavailable": False}
        move_path = context["move_href"]
        zone = ZoneInfo(practice.timezone)
        if context["can_change"] and confirm is not None:
            local = confirm.astimezone(zone)
            context["confirm"] = {
                "start": local.isoformat(),
                "when": format_when(local, zone),
                "time": format_time(local, zone),
                "back_href": url(move_path, week=local.date().isoformat()),
            }
        elif context["can_change"]:
            first = week_start(practice, week)
            try:
                slots = await booking.availability(
                    db_session,
                    practice,
                    service_id=appointment.service_id,
                    therapist_id=appointment.therapist_id,
                    date_from=first,
                    date_to=first + dt.timedelta(days=6),
                    moving=appointment.id,
                )
            except (NotFound, RuleViolation):
                # The service is no longer offered online, or the therapist no longer performs it.
                context["unavailable"] = True
            else:
                context["week"] = week_view(
                    practice,
                    first,
                    slots,
                    slot_href=lambda start: url(move_path, start=start),
                    week_href=lambda day: url(move_path, week=day),
                )
        return Template(template_name="booking/move.html", context=context, status_code=status, headers=PRIVATE_HEADERS)
