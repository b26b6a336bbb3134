"""Server-side sessions in the database, with a fresh session id whenever someone signs in.

Litestar keeps the id from the request's cookie for as long as the cookie lives, so an id planted in
a browser before sign-in would survive it (session fixation). `rotate_session(request)` marks the
request: its response stores the session under a new random id and deletes the old row.

A cookie that is not an id this backend could have issued (hex of `session_id_bytes`) names no session:
it is never looked up (PostgreSQL refuses some bytes outright), and a session stored afterwards gets a
fresh id.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from advanced_alchemy.extensions.litestar.session import SQLAlchemyAsyncSessionBackend
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.stores.base import Store
from litestar.types import Message, ScopeSession

from scheduler.db import write_intent

_ROTATE = "carebook.rotate_session"
_FRESH_ID = "carebook.fresh_session_id"


def rotate_session(request: Request[Any, Any, Any], data: dict[str, Any]) -> None:
    """Replace the session's data and give it a new id (call on every sign-in)."""
    request.scope.setdefault("state", {})[_ROTATE] = True
    request.set_session(data)


class RotatingSessionBackend(SQLAlchemyAsyncSessionBackend):
    def _issued(self, session_id: str | None) -> TypeGuard[str]:
        size = 2 * self.config.session_id_bytes
        return session_id is not None and re.fullmatch(f"[0-9a-f]{{{size}}}", session_id) is not None

    async def get(self, /, session_id: str, store: Store) -> bytes | None:
        # Reading a session also extends its expiry (read, then write): hold the write lock from the start.
        with write_intent():
            return await super().get(session_id, store)

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        if not self._issued(connection.cookies.get(self.config.key)):
            return {}
        return await super().load_from_connection(connection)

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        state = connection.scope.get("state", {})
        if not state.get(_ROTATE):
            cookie = connection.cookies.get(self.config.key)
            if cookie and cookie != "null" and not self._issued(cookie):
                return connection.get_session_id() or self.generate_session_id()
            return super().get_session_id(connection)
        fresh = state.get(_FRESH_ID)
        if fresh is None:
            fresh = state[_FRESH_ID] = self.generate_session_id()
        return str(fresh)

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if connection.scope.get("state", {}).get(_ROTATE):
            old = connection.cookies.get(self.config.key)
            if self._issued(old):
                await self.delete(old, store=self.config.get_store_from_app(connection.scope["app"]))
        await super().store_in_message(scope_session, message, connection)
