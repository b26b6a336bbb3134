"""Issued documents and their per-practice, per-kind number counters.

An `IssuedDocument` row (and each `DocumentRendition` of it) is written once. The database refuses
UPDATE and DELETE on them (triggers made by the migration, on PostgreSQL and SQLite), and the ORM
refuses to flush a change to one before SQL is even sent (`refuse_changes_to_issued_documents`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from billing.documents.snapshot import DocumentKind, DocumentSnapshot
from scheduler.db import Base, TenantScoped, enum_values
from scheduler.errors import Conflict

_KIND = Enum(DocumentKind, native_enum=False, length=20, validate_strings=True, values_callable=enum_values)


class DocumentImmutable(Conflict):
    """Someone tried to change or delete an issued document; corrections are credit notes."""

    code = "document_immutable"
    title = "Issued documents cannot be changed"


class DocumentCounter(TenantScoped, Base):
    """The last number issued for one kind of document in one practice; bumped inside the issuing txn."""

    __tablename__ = "document_counter"
    __table_args__ = (
        UniqueConstraint("practice_id", "kind", name="uq_document_counter_practice_kind"),
        CheckConstraint("last_seq >= 0", name="seq_positive"),
    )

    kind: Mapped[DocumentKind] = mapped_column(_KIND)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class IssuedDocument(TenantScoped, Base):
    __tablename__ = "issued_document"
    __table_args__ = (
        UniqueConstraint("practice_id", "kind", "seq", name="uq_issued_document_practice_kind_seq"),
        UniqueConstraint("practice_id", "number", name="uq_issued_document_practice_number"),
        CheckConstraint("seq >= 1", name="seq_from_one"),
        Index("ix_issued_document_subject", "practice_id", "kind", "subject_key"),
    )

    kind: Mapped[DocumentKind] = mapped_column(_KIND)
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(20))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    # The snapshot exactly as encoded at issue (text, so its bytes and digest never change on a round trip).
    snapshot_json: Mapped[str] = mapped_column(Text)
    # Statements and superbills are issued again only when what they would say changed.
    subject_key: Mapped[str] = mapped_column(String(100), default="")
    source_digest: Mapped[str] = mapped_column(String(64))
    # Everything the rendering reads besides the snapshot, fixed at issue: the date printed and the paper.
    issued_on: Mapped[dt.date] = mapped_column(Date)
    page_size: Mapped[str] = mapped_column(String(10))
    references_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("issued_document.id", ondelete="RESTRICT"), nullable=True, default=None, index=True
    )
    # No foreign key to invoice: a document stands on its snapshot and outlives any invoice edits.
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(GUID(length=16), nullable=True, default=None, index=True)
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointment.id", ondelete="RESTRICT"), nullable=True, default=None, index=True
    )
    client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("client.id", ondelete="RESTRICT"), nullable=True, default=None, index=True
    )

    @property
    def snapshot(self) -> DocumentSnapshot:
        return DocumentSnapshot.from_json(self.snapshot_json)


class DocumentRendition(TenantScoped, Base):
    """A document's PDF: the original, or the reprint marked COPY. Rendered once, stored, served as is.

    Rendered right after the issuing transaction commits (`rendering`) rather than inside it, so issuing holds
    the number's lock (on SQLite, the database's write lock) for milliseconds, not for a PDF layout. The
    rendering reads only the document row, so when it happens does not change what it prints.
    """

    __tablename__ = "document_rendition"
    __table_args__ = (UniqueConstraint("document_id", "is_copy", name="uq_document_rendition_document_copy"),)

    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issued_document.id", ondelete="RESTRICT"))
    is_copy: Mapped[bool] = mapped_column(Boolean)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))


IMMUTABLE_TYPES = (IssuedDocument, DocumentRendition)


@event.listens_for(Session, "before_flush")
def refuse_changes_to_issued_documents(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, IMMUTABLE_TYPES):
            raise DocumentImmutable("an issued document cannot be deleted; issue a credit note instead")
    for obj in session.dirty:
        if isinstance(obj, IMMUTABLE_TYPES) and session.is_modified(obj, include_collections=False):
            raise DocumentImmutable("an issued document cannot be changed; issue a credit note instead")
