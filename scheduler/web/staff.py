"""Staff pages: sign-in, sign-out and the staff home."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template

from scheduler.auth import LOGIN_THROTTLE_STORE, SESSION_USER_KEY, LoginThrottle, page_staff
from scheduler.db import NO_WRITE_INTENT
from scheduler.deps import AppSettings, CurrentStaff, DbSession
from scheduler.errors import NotAuthenticated
from scheduler.format import format_long_day
from scheduler.practice import services as practice_services
from scheduler.practice.models import Practice
from scheduler.web.session import rotate_session

# Per client address, on top of the per-account failure count: slows down spraying many accounts.
LOGIN_RATE_LIMIT = RateLimitConfig(rate_limit=("minute", 30), store="rate_limit")


class LoginForm(msgspec.Struct):
    email: str = ""
    password: str = ""


class StaffPagesController(Controller):
    include_in_schema = False

    @get("/login", name="login")
    async def login_page(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        if request.session.get(SESSION_USER_KEY):
            return Redirect(path="/staff")
        return Template(template_name="staff/login.html", context={"error": None, "email": ""})

    # The throttle writes through its own store connection after the password check has read: no write lock here.
    @post("/login", middleware=[LOGIN_RATE_LIMIT.middleware], status_code=303, opt=NO_WRITE_INTENT)
    async def login(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        settings: AppSettings,
        data: URLEncodedBody[LoginForm],
    ) -> Template | Redirect:
        throttle = LoginThrottle(request.app.stores.get(LOGIN_THROTTLE_STORE), settings)
        await throttle.check(data.email)
        try:
            user = await practice_services.authenticate(db_session, data.email, data.password)
        except NotAuthenticated as exc:
            await throttle.record_failure(data.email)
            return Template(
                template_name="staff/login.html",
                context={"error": exc.detail, "email": data.email},
                status_code=401,
            )
        await throttle.reset(data.email)
        rotate_session(request, {SESSION_USER_KEY: str(user.id)})
        return Redirect(path="/staff", status_code=303)

    @post("/logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect(path="/login", status_code=303)

    @get("/", name="root")
    async def root(self) -> Redirect:
        return Redirect(path="/staff")

    @get("/staff", name="staff_home", dependencies={"staff": Provide(page_staff())})
    async def home(self, db_session: DbSession, staff: CurrentStaff) -> Template:
        practice = await db_session.get_one(Practice, staff.practice_id)
        counts = {
            "therapist_count": len(await practice_services.list_therapists(db_session)),
            "room_count": len(await practice_services.list_rooms(db_session)),
            "service_count": len(await practice_services.list_services(db_session, public=False)),
        }
        today = format_long_day(dt.datetime.now(ZoneInfo(practice.timezone)).date())
        return Template(
            template_name="staff/home.html",
            context={"practice": practice, "user": staff, "today": today, **counts},
        )
