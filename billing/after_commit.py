"""Invoices to follow up once the transaction that changed them has committed.

Some consequences of a settled invoice go to the payment processor: expiring the other pay links,
cancelling unconfirmed charges, sending the refund of money received twice (`billing.settlement.follow_up`).
They must not run inside the transaction that settled the invoice — that holds the invoice's row lock
(PostgreSQL) or the database's only write lock (SQLite), and the calendar lock for a deposit — and they must
not run at all if that transaction rolls back. So the service notes the invoice here (`follow_up_after_commit`),
and once the outermost transaction commits the note moves to this process's queue; whoever owns the unit of
work runs the queue after it: the web app after each response (`billing.plugin`), `carebook stripe reconcile`
after each event. The notes are only a fast path: every follow-up re-reads the database and is idempotent, and
`carebook stripe reconcile` sweeps what a crashed process left behind (`billing.settlement.sweep`).

A charge decided inside a visit's status change (a fee, a series visit's charge) is noted the same way
(`charge_after_commit`): the status-change transaction only writes the pending payment, and the app sends it
once that transaction has committed (`billing.card_charges.send_after_response`); what no process sent is swept.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

NOTES_KEY = "billing_follow_ups"
CHARGES_KEY = "billing_charges_due"


@dataclass(frozen=True)
class FollowUp:
    practice_id: uuid.UUID
    invoice_id: uuid.UUID


@dataclass(frozen=True)
class ChargeDue:
    """A pending card-on-file payment written to be charged once its transaction has committed."""

    practice_id: uuid.UUID
    payment_id: uuid.UUID


_committed: dict[FollowUp, None] = {}  # insertion-ordered set
_committed_charges: dict[ChargeDue, None] = {}


def follow_up_after_commit(session: AsyncSession, practice_id: uuid.UUID, invoice_id: uuid.UUID) -> None:
    notes: dict[FollowUp, None] = session.info.setdefault(NOTES_KEY, {})
    notes[FollowUp(practice_id, invoice_id)] = None


def charge_after_commit(session: AsyncSession, practice_id: uuid.UUID, payment_id: uuid.UUID) -> None:
    notes: dict[ChargeDue, None] = session.info.setdefault(CHARGES_KEY, {})
    notes[ChargeDue(practice_id, payment_id)] = None


def take_committed_charges() -> list[ChargeDue]:
    """The charges whose transactions committed since the last call (each once)."""
    taken = list(_committed_charges)
    _committed_charges.clear()
    return taken


def take_committed() -> list[FollowUp]:
    """The invoices whose transactions committed since the last call (each once)."""
    taken = list(_committed)
    _committed.clear()
    return taken


@event.listens_for(Session, "after_commit")
def _note_committed(session: Session) -> None:
    # A savepoint's end is not the transaction's: the notes commit (or not) with the outermost one.
    if not session.in_nested_transaction():
        _committed.update(session.info.pop(NOTES_KEY, {}))
        _committed_charges.update(session.info.pop(CHARGES_KEY, {}))


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(NOTES_KEY, None)
        session.info.pop(CHARGES_KEY, None)
