"""Ends the request's database transaction before anything else writes on the way out.

advanced-alchemy commits (or rolls back) the request's session in an app-level `before_send` hook, and
Litestar runs those hooks after the middleware. The server-side session middleware saves the staff
session row, on its own connection, as the response starts, so that save would run while the request's
transaction is still open. On PostgreSQL that is merely late; on SQLite the request holds the database's
only write lock after any write (or after `begin_write`), so every page form that changes data would
wait out the busy timeout and fail. This middleware sits inside the session middleware and runs the very
same commit-or-rollback hook first; the app-level hook then finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

Finish = Callable[[Message, Scope], Awaitable[None] | None]


def end_transaction_before_session_save(alchemy: SQLAlchemyAsyncConfig) -> Callable[[ASGIApp], ASGIApp]:
    """A middleware factory; list it after the session middleware (so it runs inside it)."""
    hook = alchemy.before_send_handler
    if not callable(hook):  # the config resolves its named handlers to callables when it is built
        msg = "the SQLAlchemy config has no before-send handler to run"
        raise TypeError(msg)
    finish: Finish = hook

    def middleware(app: ASGIApp) -> ASGIApp:
        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return

            async def send_after_transaction(message: Message) -> None:
                if message["type"] == "http.response.start":
                    pending = finish(message, scope)
                    if pending is not None:
                        await pending
                await send(message)

            await app(scope, receive, send_after_transaction)

        return handle

    return middleware
