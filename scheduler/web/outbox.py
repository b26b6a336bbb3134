"""The owner's view of the outbox: every e-mail the practice sent or is waiting to send, readable offline."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from scheduler.auth import page_staff
from scheduler.deps import AppSettings, CurrentStaff, DbSession
from scheduler.mail import services as mail
from scheduler.practice.models import Practice, Role
from scheduler.validation import parse_uuid


class OutboxPagesController(Controller):
    path = "/staff/outbox"
    include_in_schema = False
    dependencies = {"staff": Provide(page_staff(Role.OWNER))}

    @get("/", name="staff_outbox")
    async def outbox(self, db_session: DbSession, staff: CurrentStaff, settings: AppSettings) -> Template:
        practice = await db_session.get_one(Practice, staff.practice_id)
        return Template(
            template_name="staff/outbox.html",
            context={
                "practice": practice,
                "user": staff,
                "zone": ZoneInfo(practice.timezone),
                "messages": await mail.list_messages(db_session),
                "smtp_configured": bool(settings.smtp_url),
            },
        )

    @get("/{message_id:str}", name="staff_outbox_message")
    async def message(self, db_session: DbSession, staff: CurrentStaff, message_id: FromPath[str]) -> Template:
        practice = await db_session.get_one(Practice, staff.practice_id)
        found = await mail.get_message(db_session, parse_uuid(message_id, "message_id"))
        return Template(
            template_name="staff/outbox_message.html",
            context={"practice": practice, "user": staff, "zone": ZoneInfo(practice.timezone), "message": found},
        )
