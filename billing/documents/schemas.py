"""JSON shapes of issued documents (the PDFs themselves are served as application/pdf)."""

from __future__ import annotations

import datetime as dt

import msgspec


class DocumentOut(msgspec.Struct):
    id: str
    kind: str
    number: str
    issued_at: dt.datetime
    issued_on: dt.date
    currency: str
    total: int
    eligible_subtotal: int
    paid: int
    client_id: str | None
    invoice_id: str | None
    appointment_id: str | None
    references_id: str | None
    references_number: str | None
    pdf_url: str


class DocumentList(msgspec.Struct):
    items: list[DocumentOut]


class DownloadLinkOut(msgspec.Struct):
    url: str
    expires_at: dt.datetime


class CreditNoteIn(msgspec.Struct, forbid_unknown_fields=True):
    amount: int
    reason: str = ""
    eligible: bool = True
