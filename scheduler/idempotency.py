"""`Idempotency-Key` on the API's creating POSTs, as Stripe does it: a retry gets the first answer, not a second effect.

What this module owns: the `idempotency_key` table, a request's fingerprint, claiming a key before the handler
runs (`claim_idempotency_key`, the dependency an endpoint names to opt in) and storing the answer once it is
known (`store_idempotent_answers`, a middleware `app.py` lists once).

The rules, per practice (the public booking's practice is the slug's, a staff call's the staff member's):
- same key, same request (method, path, canonical JSON body) → the stored answer: same status, same body, and
  an `Idempotent-Replayed: true` header;
- same key, another request → 422 `idempotency_key_reused`; same key while the first is still running → 409
  `idempotency_key_in_use`; an empty key or one over 255 characters → 422 `invalid_idempotency_key`; each names
  the field `Idempotency-Key`;
- 2xx, 3xx and 4xx answers are stored, except 400 (input that failed validation: as at Stripe, nothing started,
  so a corrected retry may reuse the key); a 5xx, or a request that never finished, stores nothing and a retry
  runs again;
- a key is remembered for 24 hours; older rows are ignored, and purged as new keys are claimed.

Why it is exactly-once: the key's row is inserted, in progress, inside the request's own unit of work before the
handler runs, under UNIQUE (practice_id, key_hash). On SQLite the claim takes the write lock (`begin_write`),
so a duplicate waits and then finds the answer; on PostgreSQL the duplicate's INSERT waits on the unique index
until the first commits (then it replays) or rolls back (then it runs). The answer is written into the row in
the same transaction as the effect, before advanced-alchemy commits it, so a booking that rolls back leaves no
row. Advanced-alchemy rolls back every 4xx, so a 4xx answer is stored after that rollback, in a transaction of
its own. The payment service commits its pending row before it calls Stripe; the claim is committed with it,
so a concurrent duplicate then sees the claim in progress (409) rather than waiting; should such a request die
before answering, its claim counts as abandoned after `ABANDONED_AFTER` and a retry runs again (the payment
service then resends its own Stripe key, so nothing is charged twice).

Neither the key nor the answer is readable from the table: the key is stored as its SHA-256, and the answer
(which may carry a booking's manage link) is sealed with AES-GCM under a key derived from the Idempotency-Key
itself, which only the caller holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, cast

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.params import HeaderParameter
from litestar.types import ASGIApp, ExceptionHandlersMap, HTTPResponseStartEvent, Message, Receive, Scope, Send
from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, TenantScoped, begin_write, insert_unless_conflict
from scheduler.deps import DbSession
from scheduler.errors import CarebookError, Conflict
from scheduler.practice.models import Practice

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
RETENTION = dt.timedelta(hours=24)
# No request runs this long (the gateway gives up well before); a claim still in progress after it was left
# behind by a process that died mid-request, after the payment service had committed it.
ABANDONED_AFTER = dt.timedelta(minutes=5)
PURGE_BATCH = 50
_SCOPE_KEY = "carebook_idempotency_claim"
_REPLAYED_HEADER = "Idempotent-Replayed"


def utcnow() -> dt.datetime:
    """The clock keys age by; tests move it."""
    return dt.datetime.now(dt.UTC)


class IdempotencyKey(Base, TenantScoped):
    """One claimed `Idempotency-Key` of a practice: in progress while `status_code` is null, then the answer."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("practice_id", "key_hash"),)

    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    media_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    sealed_body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class InvalidIdempotencyKey(CarebookError):
    status = 422
    code = "invalid_idempotency_key"
    title = "Invalid Idempotency-Key"


class IdempotencyKeyReused(CarebookError):
    status = 422
    code = "idempotency_key_reused"
    title = "Idempotency-Key already used for another request"


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"
    title = "A request with this Idempotency-Key is still running"


class IdempotentReplay(Exception):
    """Raised by the claim when the key already holds an answer; `replay_answer` turns it into that response."""

    def __init__(self, status_code: int, media_type: str, body: bytes) -> None:
        super().__init__(status_code)
        self.status_code = status_code
        self.media_type = media_type
        self.body = body


def replay_answer(_request: Request[Any, Any, Any], exc: IdempotentReplay) -> Response[bytes]:
    return Response(
        exc.body, status_code=exc.status_code, media_type=exc.media_type, headers={_REPLAYED_HEADER: "true"}
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {IdempotentReplay: replay_answer}


# --- the request's fingerprint and the sealed answer ----------------------------------------------------------------


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of the method, the path (which names the practice or invoice) and the body as canonical JSON, so
    key order and whitespace do not make two equal requests differ."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.rstrip("/").encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _key_hash(key: str) -> str:
    return hashlib.sha256(b"carebook:idempotency-key:" + key.encode("utf-8", "surrogatepass")).hexdigest()


def _sealing_key(key: str) -> bytes:
    return hashlib.sha256(b"carebook:idempotency-answer:" + key.encode("utf-8", "surrogatepass")).digest()


_NONCE = 12


def seal(key: str, body: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(_sealing_key(key)).encrypt(nonce, body, None)


def unseal(key: str, sealed: bytes) -> bytes:
    return AESGCM(_sealing_key(key)).decrypt(sealed[:_NONCE], sealed[_NONCE:], None)


def check_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not raw.strip():
        raise InvalidIdempotencyKey("The Idempotency-Key header is empty.", field=HEADER)
    if len(raw) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(
            f"The Idempotency-Key is at most {MAX_KEY_LENGTH} characters (this one has {len(raw)}).", field=HEADER
        )
    return raw


# --- claiming a key -----------------------------------------------------------------------------------------------


@dataclass
class Claim:
    """A key this request owns: the row it inserted, in progress, until `finish` stores the answer."""

    session: AsyncSession
    row_id: uuid.UUID
    practice_id: uuid.UUID
    key: str
    key_hash: str
    fingerprint: str
    finished: bool = field(default=False)

    async def finish(self, status: int, media_type: str, body: bytes) -> None:
        """Store the answer (2xx/3xx in the request's transaction; 4xx after its rollback) or drop the claim."""
        self.finished = True
        if status < 400:
            await _write_lock(self.session)
            await self._store(status, media_type, body)
            return  # advanced-alchemy commits it with the effect
        await self.session.rollback()  # what advanced-alchemy would do for this status, done first
        await begin_write(self.session)
        if status >= 500 or status == 400:
            # Nothing to remember; the claim only exists if the payment service committed it.
            await self.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == self.row_id))
        elif not await self._store(status, media_type, body):
            await self.session.execute(
                insert_unless_conflict(
                    self.session, IdempotencyKey, ["practice_id", "key_hash"], **self._values(status, media_type, body)
                )
            )
        await self.session.commit()

    def _values(self, status: int, media_type: str, body: bytes) -> dict[str, Any]:
        now = utcnow()
        return {
            "id": self.row_id,
            "practice_id": self.practice_id,
            "key_hash": self.key_hash,
            "fingerprint": self.fingerprint,
            "created_at": now,
            "updated_at": now,
            "status_code": status,
            "media_type": media_type,
            "sealed_body": seal(self.key, body),
        }

    async def _store(self, status: int, media_type: str, body: bytes) -> bool:
        result = await self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == self.row_id, IdempotencyKey.status_code.is_(None))
            .values(status_code=status, media_type=media_type, sealed_body=seal(self.key, body), updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))


async def _write_lock(session: AsyncSession) -> None:
    # A unit of work that has written holds SQLite's write lock already; one that has only read takes it now.
    if session.bind.dialect.name == "sqlite" and not session.info.get("wrote"):
        await begin_write(session)


async def claim_key(session: AsyncSession, practice_id: uuid.UUID, key: str, request_fingerprint: str) -> Claim:
    """Insert the key's row, in progress, in the session's transaction; or raise the stored answer or the conflict."""
    await begin_write(session)
    key_hash = _key_hash(key)
    # Two rounds: on PostgreSQL an INSERT that conflicted with a request committing meanwhile reads its row next.
    for _ in range(2):
        now = utcnow()
        found = (
            await session.execute(
                select(
                    IdempotencyKey.id,
                    IdempotencyKey.fingerprint,
                    IdempotencyKey.created_at,
                    IdempotencyKey.status_code,
                    IdempotencyKey.media_type,
                    IdempotencyKey.sealed_body,
                ).where(IdempotencyKey.practice_id == practice_id, IdempotencyKey.key_hash == key_hash)
            )
        ).first()
        if found is not None:
            claimed_at = _aware(found.created_at)
            expired = claimed_at <= now - RETENTION
            abandoned = found.status_code is None and claimed_at <= now - ABANDONED_AFTER
            if not (expired or abandoned):
                if found.fingerprint != request_fingerprint:
                    raise IdempotencyKeyReused(
                        "This Idempotency-Key was used for a different request; send a new key for a new request.",
                        field=HEADER,
                    )
                if found.status_code is None:
                    raise IdempotencyKeyInUse(
                        "A request with this Idempotency-Key is still being processed; retry in a moment.",
                        field=HEADER,
                    )
                raise IdempotentReplay(found.status_code, found.media_type or "application/json", _opened(key, found))
            await session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.id == found.id).execution_options(synchronize_session=False)
            )
        row_id = uuid.uuid4()
        inserted = await session.scalar(
            insert_unless_conflict(
                session,
                IdempotencyKey,
                ["practice_id", "key_hash"],
                id=row_id,
                practice_id=practice_id,
                key_hash=key_hash,
                fingerprint=request_fingerprint,
                created_at=now,
                updated_at=now,
            ).returning(IdempotencyKey.id)
        )
        if inserted is not None:
            await _purge_expired(session, practice_id, now)
            return Claim(session, row_id, practice_id, key, key_hash, request_fingerprint)
    raise IdempotencyKeyInUse(
        "A request with this Idempotency-Key is still being processed; retry in a moment.", field=HEADER
    )


def _opened(key: str, found: Any) -> bytes:
    return unseal(key, found.sealed_body) if found.sealed_body is not None else b""


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


async def _purge_expired(session: AsyncSession, practice_id: uuid.UUID, now: dt.datetime) -> None:
    """Forget a few of the practice's keys past their 24 hours: each claim clears some, so the table stays a day
    long. SKIP LOCKED on PostgreSQL lets two claims purge side by side instead of waiting on (or deadlocking
    over) the same old rows."""
    old = (
        select(IdempotencyKey.id)
        .where(IdempotencyKey.practice_id == practice_id, IdempotencyKey.created_at <= now - RETENTION)
        .limit(PURGE_BATCH)
    )
    if session.bind.dialect.name == "postgresql":
        old = old.with_for_update(skip_locked=True)
    await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.id.in_(old.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )


# --- the wiring: a dependency that claims, a middleware that stores -----------------------------------------------

IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name=HEADER,
        required=False,
        description=(
            "Optional, up to 255 characters (a UUID is a good choice). Retrying the same request with the same "
            "key within 24 hours returns the first answer (same status and body, with `Idempotent-Replayed: "
            "true`) instead of acting twice. The same key on a different request → 422 `idempotency_key_reused`; "
            "while the first request is still running → 409 `idempotency_key_in_use`."
        ),
    ),
]


async def claim_idempotency_key(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    idempotency_key: IdempotencyKeyHeader,
    practice: NamedDependency[Practice | None] = None,
) -> Claim | None:
    """The dependency an endpoint names (`idempotency: Idempotency`) to honour the header; None without it.

    Provided app-wide; `practice` defaults only so that handlers without a practice still register: an endpoint
    that opts in always resolves its practice (from the slug, or from the staff member) first."""
    key = check_key(idempotency_key)
    if key is None:
        return None
    if practice is None:
        msg = "an idempotent endpoint must provide `practice`"
        raise RuntimeError(msg)
    request_print = fingerprint(request.method, request.scope["path"], await request.body())
    claimed = await claim_key(db_session, practice.id, key, request_print)
    cast(dict[str, Any], request.scope)[_SCOPE_KEY] = claimed
    return claimed


# What an endpoint adds to its signature to honour the header (`app.py` provides it under this name).
Idempotency = NamedDependency[Claim | None]


def store_idempotent_answers(app: ASGIApp) -> ASGIApp:
    """Middleware: holds back the answer of a request that claimed a key until the claim has stored it.

    List it inside (after) the middleware that ends the request's transaction, so the answer is written before
    that commit. Requests that claimed nothing pass straight through."""

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        held: list[HTTPResponseStartEvent] = []
        chunks: list[bytes] = []

        async def send_after_storing(message: Message) -> None:
            claimed = cast(dict[str, Any], scope).get(_SCOPE_KEY)
            if not isinstance(claimed, Claim) or claimed.finished:
                await send(message)
                return
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if message["type"] != "http.response.body" or not held:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start, body = held[0], b"".join(chunks)
            await claimed.finish(start["status"], _media_type(start), body)
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await app(scope, receive, send_after_storing)

    return handle


def _media_type(start: HTTPResponseStartEvent) -> str:
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-type":
            return value.decode("latin-1")
    return "application/json"
