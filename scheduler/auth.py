"""Who is calling: staff by bearer token (API) or by session cookie (pages), with role checks.

The provider that identifies the staff user also binds the request's database session to the user's
practice, so every handler that can see tenant data is scoped by construction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.stores.base import Store
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.db import scope_session
from scheduler.deps import DbSession
from scheduler.errors import NotAuthenticated, PermissionDenied, TooManyAttempts
from scheduler.practice import services as practice_services
from scheduler.practice.models import Role, StaffUser
from scheduler.settings import Settings

SESSION_USER_KEY = "staff_user_id"
LOGIN_THROTTLE_STORE = "login_throttle"

StaffProvider = Callable[[Request[Any, Any, Any], AsyncSession], Awaitable[StaffUser]]


def _bearer(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _check_role(user: StaffUser, roles: tuple[Role, ...]) -> StaffUser:
    if roles and user.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise PermissionDenied(f"This needs the role {allowed}.", required_roles=[r.value for r in roles])
    return user


def api_staff(*roles: Role) -> StaffProvider:
    """A dependency provider: the staff user behind `Authorization: Bearer`, optionally with a role."""

    async def provide(request: Request[Any, Any, Any], db_session: DbSession) -> StaffUser:
        token = _bearer(request)
        if token is None:
            raise NotAuthenticated("Send a staff API token as 'Authorization: Bearer <token>'.")
        user = await practice_services.resolve_token(db_session, token)
        scope_session(db_session, user.practice_id)
        return _check_role(user, roles)

    return provide


def page_staff(*roles: Role) -> StaffProvider:
    """A dependency provider: the staff user signed in with the session cookie, optionally with a role."""

    async def provide(request: Request[Any, Any, Any], db_session: DbSession) -> StaffUser:
        raw_id = request.session.get(SESSION_USER_KEY) if request.session else None
        user: StaffUser | None = None
        if raw_id:
            try:
                user_id = uuid.UUID(str(raw_id))
            except ValueError:
                user_id = None
            if user_id is not None:
                user = await practice_services.get_user_for_session(db_session, user_id)
        if user is None:
            raise NotAuthenticated("Please sign in.")
        scope_session(db_session, user.practice_id)
        return _check_role(user, roles)

    return provide


class LoginThrottle:
    """Counts failed sign-ins per e-mail address in the shared store; too many in the window → 429."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.max_failures = settings.login_max_failures
        self.window = settings.login_window_seconds

    @staticmethod
    def _key(email: str) -> str:
        return "fail:" + practice_services.hash_token(email.strip().lower())

    async def check(self, email: str) -> None:
        key = self._key(email)
        raw = await self.store.get(key)
        if raw is not None and int(raw) >= self.max_failures:
            retry_after = await self.store.expires_in(key) or self.window
            raise TooManyAttempts(
                "Too many failed sign-ins. Wait a few minutes and try again.", retry_after=max(retry_after, 1)
            )

    async def record_failure(self, email: str) -> None:
        key = self._key(email)
        raw = await self.store.get(key)
        count = int(raw) + 1 if raw is not None else 1
        remaining = await self.store.expires_in(key) if raw is not None else None
        await self.store.set(key, str(count).encode(), expires_in=remaining or self.window)

    async def reset(self, email: str) -> None:
        await self.store.delete(self._key(email))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
