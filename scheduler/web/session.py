"""Server-side sessions in the database, with a fresh session id whenever someone signs in.

Litestar keeps the id from the request's cookie for as long as the cookie lives, so an id planted in
a browser before sign-in would survive it (session fixation). `rotate_session(request)` marks the
request: its response stores the session under a new random id and deletes the old row.
"""

from __future__ import annotations

from typing import Any

from advanced_alchemy.extensions.litestar.session import SQLAlchemyAsyncSessionBackend
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.types import Message, ScopeSession

_ROTATE = "carebook.rotate_session"
_FRESH_ID = "carebook.fresh_session_id"


def rotate_session(request: Request[Any, Any, Any], data: dict[str, Any]) -> None:
    """Replace the session's data and give it a new id (call on every sign-in)."""
    request.scope.setdefault("state", {})[_ROTATE] = True
    request.set_session(data)


class RotatingSessionBackend(SQLAlchemyAsyncSessionBackend):
    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        state = connection.scope.get("state", {})
        if not state.get(_ROTATE):
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
            if old and old != "null":
                await self.delete(old, store=self.config.get_store_from_app(connection.scope["app"]))
        await super().store_in_message(scope_session, message, connection)
