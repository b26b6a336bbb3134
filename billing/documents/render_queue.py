"""The queue of issued documents to render once their issuing transaction commits (see `rendering`).

`services.issue_document` notes each document on the session; the note moves to this process's queue when the
outermost transaction commits and is dropped when it rolls back. Kept apart from `rendering` so issuing can
note a document without importing the renderer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

NOTES_KEY = "documents_to_render"


@dataclass(frozen=True)
class ToRender:
    practice_id: uuid.UUID
    document_id: uuid.UUID


_committed: dict[ToRender, None] = {}  # insertion-ordered set


def render_after_commit(session: AsyncSession, practice_id: uuid.UUID, document_id: uuid.UUID) -> None:
    notes: dict[ToRender, None] = session.sync_session.info.setdefault(NOTES_KEY, {})
    notes[ToRender(practice_id, document_id)] = None


def take_committed() -> list[ToRender]:
    """The documents whose issuing transactions committed since the last call (each once)."""
    taken = list(_committed)
    _committed.clear()
    return taken


@event.listens_for(Session, "after_commit")
def _note_committed(session: Session) -> None:
    if not session.in_nested_transaction():
        _committed.update(session.info.pop(NOTES_KEY, {}))


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(NOTES_KEY, None)
