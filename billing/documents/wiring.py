"""Issued documents' part of the composition root: `scheduler/app.py` calls `install()` and serves the
handlers it returns. Registers the receipt, acknowledgement, credit-note and fee-notice issuing on billing's invoice
events and on the scheduler's booking status hook."""

from __future__ import annotations

from typing import Any

from billing import events
from billing.documents import fee_notices, issuing
from billing.documents.controllers import DocumentController
from billing.documents.pages import PortalDocumentsController, SignedDocumentController
from billing.documents.staff_pages import StaffDocumentsPages
from billing.documents.superbill_pages import StaffSuperbillPages
from scheduler.booking import hooks

ROUTE_HANDLERS: list[Any] = [
    DocumentController,
    PortalDocumentsController,
    SignedDocumentController,
    StaffDocumentsPages,
    StaffSuperbillPages,
]


def install() -> list[Any]:
    events.register_settled(issuing.on_invoice_settled)
    events.register_settled(fee_notices.on_invoice_settled)
    events.register_recomputed(fee_notices.on_invoice_recomputed)
    events.register_recomputed(issuing.on_invoice_recomputed)
    hooks.register_status_change(issuing.on_status_change)
    return ROUTE_HANDLERS
