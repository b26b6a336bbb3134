"""The public pages of a card saved before an online booking is kept (`billing.card_setup`): the link that opens
the hosted setup page, and where that page sends the client back."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from billing import card_setup
from billing.models import CardSetupStatus
from scheduler.booking.models import Appointment, AppointmentStatus
from scheduler.deps import AppSettings, DbSession, PathPractice
from scheduler.errors import CarebookError, NotFound
from scheduler.format import format_when
from scheduler.web.booking_pages import PRIVATE_HEADERS, handle_page_error, provide_page_practice
from scheduler.web.booking_views import page_context


class CardSetupPages(Controller):
    path = "/p/{slug:str}"
    include_in_schema = False
    opt = {"skip_session": True}
    dependencies = {"practice": Provide(provide_page_practice)}
    exception_handlers = {CarebookError: handle_page_error}

    @get("/card/{token:str}", name="card_setup_checkout", status_code=303)
    async def open_checkout(
        self, db_session: DbSession, practice: PathPractice, settings: AppSettings, token: FromPath[str]
    ) -> Redirect:
        """303 to the hosted setup page (or, once the card is saved, the confirmation); 404, 410 or 503 pages."""
        target = await card_setup.open_card_checkout(db_session, practice, token, settings.base_url)
        return Redirect(path=target, status_code=303, headers=PRIVATE_HEADERS)

    @get("/card-saved", name="card_setup_return")
    async def card_saved(
        self, db_session: DbSession, practice: PathPractice, session_id: FromQuery[str | None] = None
    ) -> Template:
        """The success redirect: keeps the card and confirms the visit if the webhook has not yet."""
        if session_id is None or not session_id.startswith("cs_") or len(session_id) > 255:
            raise NotFound("This link is not valid.")
        setup = await card_setup.confirm_card_setup(db_session, session_id)
        if setup is None:
            raise NotFound("This link is not valid.")
        appointment = await db_session.get_one(Appointment, setup.appointment_id)
        context: dict[str, Any] = page_context(practice) | {
            "saved": setup.status is CardSetupStatus.SAVED,
            "card": f"{(setup.card_brand or 'card').title()} ending {setup.card_last4}" if setup.card_last4 else None,
            "visit_confirmed": appointment.status is AppointmentStatus.BOOKED,
            "when": format_when(appointment.start_at, ZoneInfo(practice.timezone)),
        }
        return Template(template_name="billing/card_saved.html", context=context, headers=PRIVATE_HEADERS)
