"""Where the sandbox keeps its Stripe account: objects, events, idempotency records, in database tables, so any
number of app processes (`carebook serve --workers N`) and restarts see the same customers, sessions and charges.

Where the tables live:
- PostgreSQL: the application's own database, in the sandbox's own tables (`stripe_sandbox_object`,
  `stripe_sandbox_event`, `stripe_sandbox_idempotency`).
- SQLite: a sibling file next to the application's database, `<db file stem>.stripe-sandbox.sqlite3`. The app
  sometimes calls the gateway while its own request holds SQLite's single write lock (a no-show fee charged in the
  transaction that records it); a sandbox writing to that same file would wait on that lock until the busy timeout
  and fail. Real Stripe has its own storage too. An in-memory app database (`sqlite+aiosqlite://`, pure contract
  tests) gets an in-memory sandbox database: the same SQL, only not shared.

The tables emulate an external service, so they are not part of the app's Alembic schema: this module owns its
own `MetaData` and creates its tables on first use (`create_all`, which checks first). The migration drift check
(`scheduler.migrations.compare.include_object`) ignores them.

How: each API request is one short transaction (`SandboxStore.transaction()`), serialised across processes —
PostgreSQL `pg_advisory_xact_lock` on one sandbox key, SQLite `BEGIN IMMEDIATE` — and, inside a process, by a
lock in front of it (so threads queue on a mutex instead of SQLite's busy-wait). A `UnitOfWork` reads through
(`load` → SELECT by id, `of_kind` → SELECT by kind), hands out plain dicts the rules mutate in place, and writes
back at commit whatever differs from what it read. Events are immutable once emitted and are inserted at once.

Why a sync engine in a worker thread rather than an async one: the rules (`state.py`, `checkout.py`, …) are plain
synchronous code that looks objects up as it goes (a payment intent's method, its customer, the charge to
refund); an async store would need every rule rewritten as coroutines or every object it may touch preloaded.
Running one whole request in a thread (`asyncio.to_thread`, see `StripeSandbox.handle_async`) keeps the rules as
they are and keeps the event loop free while the thread waits on the database. Drivers: stdlib `sqlite3`, and
`psycopg` for PostgreSQL. Connections are not pooled (`NullPool`): a sandbox request is rare next to app queries,
and every app a test builds would otherwise keep its own pool of PostgreSQL connections open.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool, StaticPool

metadata = MetaData()

objects_table = Table(
    "stripe_sandbox_object",
    metadata,
    Column("id", String(96), primary_key=True),
    Column("seq", Integer, nullable=False, index=True),  # creation order: lists come oldest first
    Column("kind", String(64), nullable=False, index=True),
    Column("body", Text, nullable=False),  # the Stripe object as JSON
    Column("extra", Text, nullable=False),  # what the sandbox keeps beside it (a card's behaviour, …)
)

events_table = Table(
    "stripe_sandbox_event",
    metadata,
    Column("id", String(96), primary_key=True),
    Column("seq", Integer, nullable=False, index=True),
    Column("type", String(96), nullable=False, index=True),
    Column("body", Text, nullable=False),  # the event object as JSON
    Column("payload", LargeBinary, nullable=False),  # the exact bytes a webhook delivery signs and posts
    Column("delivered", Boolean, nullable=False, default=False),
)

idempotency_table = Table(
    "stripe_sandbox_idempotency",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created", Integer, nullable=False),
)

TABLE_PREFIX = "stripe_sandbox_"
# Stripe keeps an idempotency key's result for 24 hours; after that the key is new again.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# One key for every sandbox transaction ("stripesb" as a number): the sandbox is one account.
_ADVISORY_KEY = 0x73_74_72_69_70_65_73_62
SQLITE_BUSY_TIMEOUT_MS = 30_000


def sandbox_database_url(app_database_url: str) -> str:
    """The sandbox's own database URL for an application database URL (see the module docstring)."""
    url = make_url(app_database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return "sqlite://"
        path = Path(database)
        return f"sqlite:///{path.with_name(path.stem + '.stripe-sandbox.sqlite3')}"
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"the Stripe sandbox cannot keep its state in {url.get_backend_name()}")


@dataclass
class _Loaded:
    kind: str
    obj: dict[str, Any]
    extra: dict[str, Any]
    seq: int
    body_json: str | None  # as read; None for an object created in this transaction
    extra_json: str | None


class UnitOfWork:
    """One transaction's view of the store: objects read on demand, written back at commit if they changed."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._cache: dict[str, _Loaded] = {}
        self._next_seq: dict[str, int] = {}

    # ------------------------------------------------------------------------------------------- objects

    def _seq(self, table: Table) -> int:
        if table.name not in self._next_seq:
            current = self._conn.execute(select(func.max(table.c.seq))).scalar()
            self._next_seq[table.name] = int(current or 0) + 1
        value = self._next_seq[table.name]
        self._next_seq[table.name] = value + 1
        return value

    def _remember(self, row: Any) -> _Loaded:
        loaded = _Loaded(row.kind, json.loads(row.body), json.loads(row.extra), row.seq, row.body, row.extra)
        self._cache[row.id] = loaded
        return loaded

    def _entry(self, object_id: str) -> _Loaded | None:
        if object_id in self._cache:
            return self._cache[object_id]
        row = self._conn.execute(select(objects_table).where(objects_table.c.id == object_id)).first()
        return self._remember(row) if row is not None else None

    def load(self, object_id: str) -> dict[str, Any] | None:
        """The object with this id (an event too), or None."""
        if object_id.startswith("evt_"):
            return self.event(object_id)
        entry = self._entry(object_id)
        return entry.obj if entry is not None else None

    def extras_of(self, object_id: str) -> dict[str, Any]:
        """What the sandbox keeps beside an object (mutable; saved with it). Empty for an unknown id."""
        entry = self._entry(object_id)
        return entry.extra if entry is not None else {}

    def put(self, obj: dict[str, Any]) -> None:
        entry = self._entry(obj["id"])
        if entry is None:
            self._cache[obj["id"]] = _Loaded(obj["object"], obj, {}, self._seq(objects_table), None, None)
        else:
            entry.obj = obj

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Every object of a kind, oldest first (what this transaction changed or created included)."""
        rows = self._conn.execute(
            select(objects_table).where(objects_table.c.kind == kind).order_by(objects_table.c.seq)
        ).all()
        for row in rows:
            if row.id not in self._cache:
                self._remember(row)
        found = [entry for entry in self._cache.values() if entry.kind == kind]
        return [entry.obj for entry in sorted(found, key=lambda entry: entry.seq)]

    def flush(self) -> None:
        for object_id, entry in self._cache.items():
            body = json.dumps(entry.obj)
            extra = json.dumps(entry.extra)
            if entry.body_json is None:
                values = {"id": object_id, "seq": entry.seq, "kind": entry.kind, "body": body, "extra": extra}
                self._conn.execute(insert(objects_table).values(**values))
            elif body != entry.body_json or extra != entry.extra_json:
                self._conn.execute(
                    update(objects_table).where(objects_table.c.id == object_id).values(body=body, extra=extra)
                )
            entry.body_json, entry.extra_json = body, extra

    # -------------------------------------------------------------------------------------------- events

    def add_event(self, evt: dict[str, Any], payload: bytes) -> None:
        self._conn.execute(
            insert(events_table).values(
                id=evt["id"],
                seq=self._seq(events_table),
                type=evt["type"],
                body=json.dumps(evt),
                payload=payload,
                delivered=False,
            )
        )

    @staticmethod
    def _event_of(row: Any) -> dict[str, Any]:
        evt: dict[str, Any] = json.loads(row.body)
        evt["pending_webhooks"] = 0 if row.delivered else 1
        return evt

    def event(self, event_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(select(events_table).where(events_table.c.id == event_id)).first()
        return self._event_of(row) if row is not None else None

    def events(self, event_type: str | None = None, delivered: bool | None = None) -> list[dict[str, Any]]:
        """Events oldest first, optionally of one type and by delivery success."""
        query = select(events_table).order_by(events_table.c.seq)
        if event_type is not None:
            query = query.where(events_table.c.type == event_type)
        if delivered is not None:
            query = query.where(events_table.c.delivered == delivered)
        return [self._event_of(row) for row in self._conn.execute(query)]

    def payload(self, event_id: str) -> bytes | None:
        found = self._conn.execute(select(events_table.c.payload).where(events_table.c.id == event_id)).scalar()
        return bytes(found) if found is not None else None

    def mark_delivered(self, event_id: str) -> None:
        self._conn.execute(update(events_table).where(events_table.c.id == event_id).values(delivered=True))

    # --------------------------------------------------------------------------------------- idempotency

    def idempotent_result(self, key: str, now: int) -> tuple[str, int, bytes] | None:
        row = self._conn.execute(select(idempotency_table).where(idempotency_table.c.key == key)).first()
        if row is None:
            return None
        if row.created <= now - IDEMPOTENCY_TTL_SECONDS:
            self._conn.execute(delete(idempotency_table).where(idempotency_table.c.key == key))
            return None
        return row.fingerprint, row.status, bytes(row.body)

    def store_result(self, key: str, fingerprint: str, status: int, body: bytes, now: int) -> None:
        self._conn.execute(
            insert(idempotency_table).values(key=key, fingerprint=fingerprint, status=status, body=body, created=now)
        )


class SandboxStore:
    """The sandbox's database: an engine made on first use, and one serialised transaction per request."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._ready = False

    @classmethod
    def for_database(cls, app_database_url: str) -> SandboxStore:
        return cls(sandbox_database_url(app_database_url))

    @property
    def is_postgres(self) -> bool:
        return make_url(self.url).get_backend_name() == "postgresql"

    def _get_engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._make_engine()
        return self._engine

    def _make_engine(self) -> Engine:
        if self.is_postgres:
            return create_engine(self.url, poolclass=NullPool)
        if self.url == "sqlite://":
            engine = create_engine(self.url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            Path(make_url(self.url).database or "").parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(self.url, poolclass=NullPool)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take over transaction control from the sqlite3 module so `begin` below can say IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    @contextmanager
    def _serialised(self) -> Iterator[Connection]:
        with self._lock, self._get_engine().begin() as conn:
            if self.is_postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
            if not self._ready:
                metadata.create_all(conn, checkfirst=True)
            yield conn
        self._ready = True

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        """One request's unit of work; commits (writing back what changed) when the block ends normally."""
        with self._serialised() as conn:
            work = UnitOfWork(conn)
            yield work
            work.flush()

    def forget(self, object_id: str) -> None:
        """Lose one object, as an account whose customer was deleted in Stripe's dashboard (tests); its
        idempotency records stay, so a key that created it still replays it, as at Stripe."""
        with self._serialised() as conn:
            conn.execute(delete(objects_table).where(objects_table.c.id == object_id))

    def clear(self) -> None:
        """Forget everything (tests start each case from an empty account)."""
        with self._serialised() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(delete(table))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._ready = False


def now() -> int:
    return int(time.time())
