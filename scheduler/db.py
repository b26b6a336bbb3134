"""Database wiring: the async engine for SQLite or PostgreSQL, the declarative base and tenant scoping.

Tenant scoping is a mechanism, not a habit: every model that mixes in `TenantScoped` is filtered by the
session's practice on every ORM query (`with_loader_criteria`), new rows get the session's practice,
and a query on tenant data from a session that names no practice fails instead of reading everything.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from advanced_alchemy.base import UUIDv7AuditBase, orm_registry
from advanced_alchemy.config import AlembicAsyncConfig, AsyncSessionConfig
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from advanced_alchemy.extensions.litestar.session import SessionModelMixin
from advanced_alchemy.extensions.litestar.store import StoreModelMixin
from advanced_alchemy.types import GUID
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.types import Scope
from sqlalchemy import ForeignKey, bindparam, event, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.pool import NullPool

from scheduler.settings import MIGRATIONS_DIR, Settings
from scheduler.transaction import note_unit_of_work

metadata = orm_registry.metadata

TENANT_KEY = "practice_id"
BYPASS_KEY = "tenant_bypass"


class Base(UUIDv7AuditBase):
    """Every Carebook table: UUIDv7 id plus timezone-aware created_at/updated_at."""

    __abstract__ = True


def enum_values(enum_class: type[enum.Enum]) -> list[str]:
    """Store an enum's values ('booked'), not its member names ('BOOKED'): SQL and reports read them."""
    return [str(member.value) for member in enum_class]


class TenantScoped:
    """Mixin for rows that belong to one practice."""

    @declared_attr
    def practice_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805
        return mapped_column(ForeignKey("practice.id", ondelete="RESTRICT"), index=True, nullable=False)


class TenantNotSet(RuntimeError):
    """A tenant-scoped query ran on a session that names no practice: a programming error."""


def scope_session(session: AsyncSession | Session, practice_id: uuid.UUID) -> None:
    """Bind a session to one practice; every tenant query through it is filtered by that practice."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    current = sync.info.get(TENANT_KEY)
    if current is not None and current != practice_id:
        msg = "session is already scoped to another practice"
        raise TenantNotSet(msg)
    sync.info[TENANT_KEY] = practice_id


@contextmanager
def unscoped(session: AsyncSession | Session) -> Iterator[None]:
    """Allow cross-practice reads for system work (sign-in lookups, CLI, migrations checks)."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    previous = sync.info.get(BYPASS_KEY, False)
    sync.info[BYPASS_KEY] = True
    try:
        yield
    finally:
        sync.info[BYPASS_KEY] = previous


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    return any(issubclass(mapper.class_, TenantScoped) for mapper in state.all_mappers)


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_queries(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    info = state.session.info
    if info.get(BYPASS_KEY):
        return
    practice_id = info.get(TENANT_KEY)
    if practice_id is None:
        if _touches_tenant_data(state):
            msg = "tenant-scoped query on a session without a practice"
            raise TenantNotSet(msg)
        return
    # A bound parameter built outside the lambda keeps the GUID type (a bare closure variable would be
    # bound untyped, as text, and match nothing on SQLite) while the cached statement stays per-value safe.
    tenant = bindparam("tenant_practice_id", practice_id, type_=GUID(length=16))
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.practice_id == tenant, include_aliases=True)
    )


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, _ctx: Any, _instances: Any) -> None:
    practice_id = session.info.get(TENANT_KEY)
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if obj.practice_id is None:
            if practice_id is None:
                msg = f"new {type(obj).__name__} without a practice"
                raise TenantNotSet(msg)
            obj.practice_id = practice_id
        elif practice_id is not None and obj.practice_id != practice_id and not session.info.get(BYPASS_KEY):
            msg = f"new {type(obj).__name__} belongs to another practice"
            raise TenantNotSet(msg)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers work while a writer holds the lock;
    # busy_timeout makes a second writer wait for the first instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_sqlite_write_intent: ContextVar[bool] = ContextVar("sqlite_write_intent", default=False)


SINGLE_STATEMENT = "carebook_single_statement"
# An execution option on the engine a writing request's session is bound to: every transaction that
# session begins takes SQLite's write lock up front (see `CarebookAlchemyConfig`).
WRITE_INTENT = "carebook_write_intent"
# A route handler's `opt` key: `opt={WRITE_INTENT: False}` keeps an unsafe-method handler's session DEFERRED.
# Only for a handler that reads through its session and then writes on another connection (a Litestar
# store): holding the lock, its own second connection would wait out the busy timeout and fail.
NO_WRITE_INTENT: dict[str, Any] = {WRITE_INTENT: False}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _begins_immediate(conn: Any) -> bool:
    options = conn.get_execution_options()
    return bool(options.get(WRITE_INTENT) or _sqlite_write_intent.get()) and not options.get(SINGLE_STATEMENT)


def _sqlite_begin(conn: Any) -> None:
    # Reads begin DEFERRED so they never hold SQLite's single write lock. A unit of work that writes
    # begins IMMEDIATE: a DEFERRED transaction that read and then writes cannot wait for the lock (SQLite
    # answers SQLITE_BUSY at once, without the busy timeout, when another connection committed since its
    # read), so a writing request's session (`CarebookAlchemyConfig`), `begin_write` and `write_intent`
    # take the lock first. A connection opened by `begin_single_read` begins nothing: one statement is its
    # own snapshot.
    if conn.get_execution_options().get(SINGLE_STATEMENT):
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE" if _begins_immediate(conn) else "BEGIN")


@contextmanager
def write_intent() -> Iterator[None]:
    """Transactions begun inside this block take SQLite's write lock up front (BEGIN IMMEDIATE): for a
    read-then-write done by code we do not own (the session store), which would otherwise fail with
    "database is locked" when another connection commits between its read and its write."""
    token = _sqlite_write_intent.set(True)
    try:
        yield
    finally:
        _sqlite_write_intent.reset(token)


def _sqlite_no_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def configure_engine_events(engine: Engine, settings: Settings) -> None:
    if settings.is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "connect", _sqlite_no_pysqlite_begin)
        event.listen(engine, "begin", _sqlite_begin)


@event.listens_for(Session, "after_begin")
def _mark_write_locked(session: Session, _transaction: Any, connection: Any) -> None:
    # A transaction that began IMMEDIATE holds the write lock already: `begin_write` (and the calendar and
    # invoice locks built on it) must keep it, not commit what it read and begin again.
    if connection.dialect.name == "sqlite" and _begins_immediate(connection):
        session.info[_WRITE_LOCKED] = True


class CarebookAlchemyConfig(SQLAlchemyAsyncConfig):
    """advanced-alchemy's Litestar config, with the request's session bound for writing when the request writes.

    On SQLite, a request with an unsafe method (POST, PUT, PATCH, DELETE: desk writes, form posts, webhook
    deliveries) gets a session whose every transaction begins IMMEDIATE, so it waits its turn for the write
    lock under the busy timeout instead of failing with "database is locked" when another connection commits
    between its read and its write. GET and HEAD stay DEFERRED: reads never queue behind writers. Each
    request's session is also noted as the request's unit of work (`scheduler.transaction`), so work that
    must wait until its transaction has ended (in-process webhook deliveries) knows to wait.
    PostgreSQL sessions are left exactly as advanced-alchemy makes them.
    """

    _write_engine: AsyncEngine | None = None

    def _ensure_unique(self, registry_name: str, key: str, new_key: str | None = None, _iter: int = 0) -> str:
        """advanced-alchemy's unique app-state key (`key`, `key_1`, `key_2`, ...) found with a loop: its own
        recursion goes one level deeper for every config the process has made, and a test run makes more than
        Python's recursion limit (each test's app has one)."""
        registry: set[str] = getattr(self.__class__, registry_name, set())
        candidate = new_key if new_key is not None else key
        while candidate in registry:
            _iter += 1
            candidate = f"{key}_{_iter}"
        return candidate

    def provide_session(self, state: State, scope: Scope) -> AsyncSession:
        session = super().provide_session(state, scope)
        note_unit_of_work()
        if _wants_write_intent(scope) and session.bind.dialect.name == "sqlite" and session.bind is not self._writes():
            if session.in_transaction():  # provided again after a read already began: keep what it has
                return session
            session.bind = self._writes()
            session.sync_session.bind = self._writes().sync_engine
        return session

    def _writes(self) -> AsyncEngine:
        if self._write_engine is None:
            self._write_engine = self.get_engine().execution_options(**{WRITE_INTENT: True})
        return self._write_engine


def _wants_write_intent(scope: Scope) -> bool:
    if scope["type"] != ScopeType.HTTP or scope.get("method") not in UNSAFE_METHODS:
        return False
    handler = scope.get("route_handler")
    return bool(getattr(handler, "opt", {}).get(WRITE_INTENT, True))


def ensure_sqlite_folder(database_url: str) -> None:
    """SQLite creates the file but not its folder; `./var/` may not exist on a fresh checkout."""
    if not database_url.startswith("sqlite"):
        return
    path = database_url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def build_alchemy_config(settings: Settings, *, pooled: bool = True) -> SQLAlchemyAsyncConfig:
    """The one SQLAlchemy config the app, the session backend, the store and the CLI share.

    Connections are pooled (on SQLite that saves reopening the file and re-running the pragmas on
    every request); one-shot callers (the CLI, test factories) ask for `pooled=False` so no connection
    outlives the event loop that opened it.
    """
    engine_kwargs: dict[str, Any] = {}
    if settings.is_sqlite:
        ensure_sqlite_folder(settings.database_url)
    if not pooled:
        engine_kwargs["poolclass"] = NullPool
    config = CarebookAlchemyConfig(
        connection_string=settings.database_url,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        # Commit on 2xx and on redirects: a page form posts, then redirects (post/redirect/get).
        before_send_handler="autocommit_include_redirects",
        create_all=False,
        alembic_config=AlembicAsyncConfig(script_location=str(MIGRATIONS_DIR)),
        metadata=metadata,
    )
    if engine_kwargs:
        from sqlalchemy.ext.asyncio import create_async_engine

        config.engine_instance = create_async_engine(settings.database_url, **engine_kwargs)
    configure_engine_events(config.get_engine().sync_engine, settings)
    return config


async def begin_single_read(session: AsyncSession) -> bool:
    """Let a session that has not started yet run its first read without a transaction; True if it did.

    For a request that is usually one SELECT (a calendar app's poll): on PostgreSQL the connection is in
    autocommit, which saves BEGIN and COMMIT round trips (under READ COMMITTED a statement reads its own
    snapshot either way); on SQLite no BEGIN is sent, which saves three thread hand-offs through aiosqlite.
    Call `session.commit()` before reading more than one statement: the next one begins a transaction again.
    """
    if session.in_transaction():
        return False
    if session.bind.dialect.name == "sqlite":
        await session.connection(execution_options={SINGLE_STATEMENT: True})
    else:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return True


def insert_unless_conflict(session: AsyncSession, model: Any, conflict: list[str], **values: Any) -> Any:
    """`INSERT … ON CONFLICT (conflict) DO NOTHING` of one row, in the session's dialect (PostgreSQL or SQLite)."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    return insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict)


async def begin_write(session: AsyncSession) -> None:
    """Start the transaction in which a check-then-write must happen, holding the database's write lock.

    On SQLite this is `BEGIN IMMEDIATE`: a transaction that has only read so far is ended first (it
    has nothing to lose) and a new one takes the lock, so two bookings cannot both pass their check.
    On PostgreSQL the constraints decide and nothing needs to happen here.
    """
    if session.bind.dialect.name != "sqlite":
        return
    if session.in_transaction():
        if session.info.get(_WRITE_LOCKED):
            return  # this transaction began IMMEDIATE: what it read is already under the lock
        if session.info.get("wrote"):
            msg = "begin_write() must come before the unit of work writes anything"
            raise RuntimeError(msg)
        await session.commit()
    token = _sqlite_write_intent.set(True)
    try:
        await session.connection()
    finally:
        _sqlite_write_intent.reset(token)
    session.info[_WRITE_LOCKED] = True


_WRITE_LOCKED = "write_locked"


async def end_reads_before_call(session: AsyncSession) -> None:
    """End a transaction that has only read, before a slow outside call (the payment gateway).

    A writing request's transactions hold SQLite's write lock from their first read, so a network call made
    inside one would keep every other writer waiting for it — the sandbox's own webhook deliveries among them.
    Nothing is lost by ending it: nothing was written. A unit of work that already wrote must not call out
    under the lock at all; that is a programming error, not something to commit half of.
    """
    if not session.in_transaction():
        return
    if session.info.get("wrote"):
        msg = "end_reads_before_call() after the unit of work wrote: call out before writing"
        raise RuntimeError(msg)
    await session.commit()


async def begin_calendar_write(session: AsyncSession) -> None:
    """`begin_write` for a change that puts visits on the calendar (book, move, commit or re-time a series).

    On PostgreSQL it also takes the practice's calendar lock, a transaction-scoped advisory lock, so such
    changes in one practice check and write one after another, as they do on SQLite. The exclusion
    constraints would still refuse an overlap without it, but two transactions inserting overlapping rows
    at the same moment each wait for the other's row, and PostgreSQL breaks that deadlock only after
    `deadlock_timeout` (1 s by default): fifty clients racing for one morning queued for tens of seconds
    and ran the connection pool dry. With the lock, the later writer's own check sees the earlier one's
    committed visit and answers "slot taken" straight away.
    """
    await begin_write(session)
    await _calendar_lock(session)


async def lock_calendar_within_write(session: AsyncSession) -> None:
    """`begin_calendar_write` for a unit of work that has already written under the write lock (a webhook
    that settled a payment, then puts a visit back on the calendar): on SQLite the lock is held since the
    first write (or `begin_write`), so no new transaction may start; on PostgreSQL the calendar lock is taken.
    """
    if session.bind.dialect.name == "sqlite" and not session.info.get("wrote"):
        await begin_write(session)
    await _calendar_lock(session)


async def _calendar_lock(session: AsyncSession) -> None:
    if session.bind.dialect.name != "postgresql":
        return
    key = f"carebook:calendar:{session.info.get(TENANT_KEY)}"
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


@event.listens_for(Session, "after_flush")
def _mark_written(session: Session, _ctx: Any) -> None:
    session.info["wrote"] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _clear_written(session: Session) -> None:
    # SQLAlchemy fires these for a savepoint too; the unit of work (and SQLite's write lock) goes on after
    # one, so only the outermost transaction's end clears the mark. Cleared early, the next `write_lock` /
    # `begin_write` saw "nothing written" and committed half a unit of work (a webhook's event id before
    # its effect).
    if not session.in_nested_transaction():
        session.info.pop("wrote", None)
        session.info.pop(_WRITE_LOCKED, None)


@asynccontextmanager
async def session_scope(config: SQLAlchemyAsyncConfig) -> AsyncIterator[AsyncSession]:
    """A unit of work for the CLI and background callers: commit on success, roll back on error."""
    async with config.get_session() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


class WebSession(SessionModelMixin):
    """Server-side sessions for staff pages, shared by every app process."""

    __tablename__ = "web_session"


class StoreEntry(StoreModelMixin):
    """Litestar's key/value store (rate limits, login throttling) in the database every process shares."""

    __tablename__ = "store_entry"
