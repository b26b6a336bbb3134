"""Pages that hand out calendar subscription links: staff for a therapist or a room, a client for their visits.

A link is shown once, right after it is made (only its hash is kept), and making one retires the
previous link of the same calendar — the page says so. The https link works in Google Calendar ("From
URL"); the webcal:// link opens Apple Calendar and Outlook straight into "subscribe".
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from scheduler.auth import page_staff
from scheduler.booking import services as booking
from scheduler.deps import AppSettings, CurrentStaff, DbSession, PathPractice
from scheduler.errors import CarebookError
from scheduler.feeds.models import FeedOwnerKind
from scheduler.feeds.tokens import check_may_manage, feed_url, issue_feed_token, webcal_url
from scheduler.practice.models import Practice, Room, StaffUser, Therapist
from scheduler.validation import parse_uuid
from scheduler.web.booking_pages import PRIVATE_HEADERS, handle_page_error, provide_page_practice
from scheduler.web.booking_views import page_context
from scheduler.web.portal import PortalClient, PortalSignInRequired, _to_sign_in, provide_portal_client


def _links(base_url: str, plain: str) -> dict[str, str]:
    url = feed_url(base_url, plain)
    return {"feed_url": url, "webcal_url": webcal_url(url)}


class StaffFeedPagesController(Controller):
    """Subscribe links for a therapist's or a room's schedule."""

    path = "/staff/feeds"
    include_in_schema = False
    dependencies = {"staff": Provide(page_staff())}

    async def _issue(
        self, db_session: DbSession, staff: StaffUser, settings: AppSettings, kind: FeedOwnerKind, raw_id: str
    ) -> Template:
        owner_id = parse_uuid(raw_id, f"{kind.value}_id")
        check_may_manage(staff, kind, owner_id)
        practice = await db_session.get_one(Practice, staff.practice_id)
        plain = await issue_feed_token(db_session, practice, kind, owner_id)
        if kind is FeedOwnerKind.THERAPIST:
            name = (await db_session.get_one(Therapist, owner_id)).display_name
            back = f"/staff/setup/therapists/{owner_id}" if staff.role.value == "owner" else "/staff"
        else:
            name = (await db_session.get_one(Room, owner_id)).name
            back = f"/staff/setup/rooms/{owner_id}" if staff.role.value == "owner" else "/staff"
        context: dict[str, Any] = {"practice": practice, "user": staff, "name": name, "back": back}
        return Template(
            template_name="staff/feed_link.html",
            context=context | _links(settings.base_url, plain),
            headers=PRIVATE_HEADERS,
        )

    @post("/therapists/{therapist_id:str}", status_code=200)
    async def therapist_feed(
        self, db_session: DbSession, staff: CurrentStaff, settings: AppSettings, therapist_id: FromPath[str]
    ) -> Template:
        return await self._issue(db_session, staff, settings, FeedOwnerKind.THERAPIST, therapist_id)

    @post("/rooms/{room_id:str}", status_code=200)
    async def room_feed(
        self, db_session: DbSession, staff: CurrentStaff, settings: AppSettings, room_id: FromPath[str]
    ) -> Template:
        return await self._issue(db_session, staff, settings, FeedOwnerKind.ROOM, room_id)


class ClientManageFeedPagesController(Controller):
    """From the booking confirmation (the manage link): a subscribe link for all of the client's visits."""

    path = "/p/{slug:str}/manage"
    include_in_schema = False
    opt = {"skip_session": True}
    dependencies = {"practice": Provide(provide_page_practice)}
    exception_handlers = {CarebookError: handle_page_error}

    @post("/{token:str}/feed", status_code=200)
    async def client_feed(
        self, db_session: DbSession, practice: PathPractice, settings: AppSettings, token: FromPath[str]
    ) -> Template:
        appointment = await booking.get_by_manage_token(db_session, token)
        plain = await issue_feed_token(db_session, practice, FeedOwnerKind.CLIENT, appointment.client_id)
        context = page_context(practice) | {"back": f"/p/{practice.slug}/manage/{token}"}
        return Template(
            template_name="booking/feed_link.html",
            context=context | _links(settings.base_url, plain),
            headers=PRIVATE_HEADERS,
        )


class PortalFeedPagesController(Controller):
    """In the client portal: a subscribe link for all of the signed-in client's visits."""

    path = "/p/{slug:str}/portal/feed"
    include_in_schema = False
    dependencies = {"practice": Provide(provide_page_practice), "client": Provide(provide_portal_client)}
    exception_handlers = {PortalSignInRequired: _to_sign_in}

    @post("/", status_code=200)
    async def portal_feed(
        self, db_session: DbSession, practice: PathPractice, settings: AppSettings, client: PortalClient
    ) -> Template:
        plain = await issue_feed_token(db_session, practice, FeedOwnerKind.CLIENT, client.id)
        context = {
            "practice": practice,
            "portal": f"/p/{practice.slug}/portal",
            "client": client,
            "signed_in": True,
            "back": f"/p/{practice.slug}/portal/home",
        }
        return Template(
            template_name="portal/feed_link.html",
            context=context | _links(settings.base_url, plain),
            headers=PRIVATE_HEADERS,
        )
