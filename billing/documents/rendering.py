"""Every issued document is rendered once, right after the transaction that issued it commits.

Issuing (`services.issue_document`) only numbers and stores the snapshot: laying out a PDF inside the issuing
transaction would hold the number's lock (on SQLite, the database's only write lock) for the whole layout. So
the issuer notes the document here (`render_after_commit`); once the outermost transaction commits, the note
moves to this process's queue, and whoever owns the unit of work renders the queue after it: the web app after
each response (`billing.wiring.after_response`), before the outbox sends the e-mail with the download link.
A rolled-back issue is forgotten with its note.

The notes are only the fast path. `render_unrendered` sweeps documents that have no stored PDF (a process that
stopped between its commit and its rendering, a document issued by a script); the web app runs it at most
once a minute after a response. A download of a document not rendered yet still renders it
(`services.document_pdf`), so nothing depends on the sweep for correctness, only for speed.
"""

from __future__ import annotations

import hashlib
import logging
import time

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.documents import services
from billing.documents.models import DocumentRendition, IssuedDocument
from billing.documents.render_queue import ToRender, take_committed
from scheduler.db import scope_session, session_scope, unscoped

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 60.0
SWEEP_LIMIT = 50
_last_sweep = {"at": 0.0}


async def render_one(config: SQLAlchemyAsyncConfig, note: ToRender) -> bool:
    """Render and store the document's PDF unless it is stored already; whether this call stored it."""
    async with session_scope(config) as session:
        scope_session(session, note.practice_id)
        document = await session.get(IssuedDocument, note.document_id)
        if document is None or await services.stored_pdf(session, document) is not None:
            return False
        pdf = await services.document_pdf(session, document)
    await _verify_stored(config, note, hashlib.sha256(pdf).hexdigest())
    return True


async def _verify_stored(config: SQLAlchemyAsyncConfig, note: ToRender, sha256: str) -> None:
    """Read the committed PDF back once and check its digest: what the client downloads is what was rendered.
    (On PostgreSQL the first reader of a new row also settles its visibility, so the client's first download
    does not pay for that either.)"""
    async with config.get_session() as session:
        scope_session(session, note.practice_id)
        stored = await session.scalar(
            select(DocumentRendition.pdf).where(
                DocumentRendition.document_id == note.document_id, DocumentRendition.is_copy.is_(False)
            )
        )
    if stored is None or hashlib.sha256(stored).hexdigest() != sha256:
        msg = f"document {note.document_id}: the stored PDF does not read back as rendered"
        raise RuntimeError(msg)


async def render_committed(config: SQLAlchemyAsyncConfig) -> int:
    """Render every document noted by transactions that have committed; how many were rendered."""
    rendered = 0
    for note in take_committed():
        try:
            rendered += await render_one(config, note)
        except Exception:
            # Never a failed response: the first download (or the sweep) renders it instead.
            log.exception("rendering an issued document failed", extra={"document_id": str(note.document_id)})
    return rendered


async def unrendered(session: AsyncSession, limit: int = SWEEP_LIMIT) -> list[ToRender]:
    """Documents of any practice with no stored original PDF, oldest first."""
    with unscoped(session):
        rows = await session.execute(
            select(IssuedDocument.practice_id, IssuedDocument.id)
            .outerjoin(
                DocumentRendition,
                (DocumentRendition.document_id == IssuedDocument.id) & DocumentRendition.is_copy.is_(False),
            )
            .where(DocumentRendition.id.is_(None))
            .order_by(IssuedDocument.issued_at)
            .limit(limit)
        )
        return [ToRender(practice_id, document_id) for practice_id, document_id in rows]


async def render_unrendered(config: SQLAlchemyAsyncConfig, limit: int = SWEEP_LIMIT) -> int:
    """The sweep: render what the fast path missed; how many were rendered."""
    async with config.get_session() as session:
        pending = await unrendered(session, limit)
    rendered = 0
    for note in pending:
        try:
            rendered += await render_one(config, note)
        except Exception:
            log.exception("rendering an issued document failed", extra={"document_id": str(note.document_id)})
    return rendered


async def after_response(config: SQLAlchemyAsyncConfig) -> None:
    """The web app's part: what the request issued, then (at most once a minute) the sweep."""
    await render_committed(config)
    now = time.monotonic()
    if now - _last_sweep["at"] >= SWEEP_EVERY_SECONDS:
        _last_sweep["at"] = now
        try:
            await render_unrendered(config)
        except Exception:
            log.exception("sweeping unrendered documents failed")
