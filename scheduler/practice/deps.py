"""Dependencies that resolve the request's practice from its public path (`/p/{slug}`, `/practices/{slug}`)."""

from __future__ import annotations

from litestar.params import FromPath

from scheduler.db import scope_session
from scheduler.deps import CurrentStaff, DbSession
from scheduler.practice import services
from scheduler.practice.models import Practice


async def provide_public_practice(slug: FromPath[str], db_session: DbSession) -> Practice:
    practice = await services.get_practice_by_slug(db_session, slug)
    scope_session(db_session, practice.id)
    return practice


async def provide_staff_practice(staff: CurrentStaff, db_session: DbSession) -> Practice:
    """The signed-in staff member's practice (the session is already scoped to it)."""
    return await db_session.get_one(Practice, staff.practice_id)
