"""The request's unit of work: ends its database transaction before anything else writes on the way out, and
runs what must wait for that end (`after_request_transaction`).

advanced-alchemy commits (or rolls back) the request's session in an app-level `before_send` hook, and
Litestar runs those hooks after the middleware. The server-side session middleware saves the staff
session row, on its own connection, as the response starts, so that save would run while the request's
transaction is still open. On PostgreSQL that is merely late; on SQLite the request holds the database's
only write lock after any write (or after `begin_write`), so every page form that changes data would
wait out the busy timeout and fail. This middleware sits inside the session middleware and runs the very
same commit-or-rollback hook first; the app-level hook then finds nothing left to do.

Work the request causes but must not run beside its transaction waits for that end: the offline Stripe
sandbox posts the webhooks a request's gateway call raised into this very process, and a delivery that
started while the request still held SQLite's write lock would queue behind it (or, on any database, read
the request's effect before it was committed).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

Finish = Callable[[Message, Scope], Awaitable[None] | None]


@dataclass
class _RequestUnit:
    """One HTTP request's unit of work: whether it opened its database session, and what waits for its end."""

    opened: bool = False
    ended: bool = False
    waiting: list[Callable[[], None]] = field(default_factory=list)

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        waiting, self.waiting = self.waiting, []
        for callback in waiting:
            try:
                callback()
            except Exception:  # one failed hand-off must not keep the others waiting forever
                log.exception("work waiting for the request's transaction failed to start")


_current: ContextVar[_RequestUnit | None] = ContextVar("carebook_request_unit", default=None)


def note_unit_of_work() -> None:
    """The request has asked for its database session (`scheduler.db.CarebookAlchemyConfig` calls this)."""
    unit = _current.get()
    if unit is not None and not unit.ended:
        unit.opened = True


def after_request_transaction(callback: Callable[[], None]) -> bool:
    """Run `callback` once the current request's transaction has ended (committed or rolled back); True then.

    False, and nothing is kept, when there is no such transaction to wait for — outside a request (CLI, jobs,
    tests calling services directly), in a request that never opened a database session, or once the request's
    transaction has already ended: the caller runs the work now.
    """
    unit = _current.get()
    if unit is None or unit.ended or not unit.opened:
        return False
    unit.waiting.append(callback)
    return True


@contextmanager
def own_unit_of_work() -> Iterator[None]:
    """Work with its own transactions that runs after a request's has ended (a charge sent once the request that
    wrote it committed), or outside any request: what it raises for `after_request_transaction` waits for the end
    of this block — its last commit — rather than starting beside it."""
    unit = _RequestUnit(opened=True)
    token = _current.set(unit)
    try:
        yield
    finally:
        _current.reset(token)
        unit.end()


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
            unit = _RequestUnit()
            token = _current.set(unit)

            async def send_after_transaction(message: Message) -> None:
                if message["type"] == "http.response.start":
                    pending = finish(message, scope)
                    if pending is not None:
                        await pending
                    unit.end()
                await send(message)

            try:
                await app(scope, receive, send_after_transaction)
            finally:
                _current.reset(token)
                # No response started (an error escaped the app): the app-level hook ends the transaction on
                # the way out; what waited is let go now rather than never.
                unit.end()

        return handle

    return middleware
