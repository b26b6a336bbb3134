"""Extension points other packages (billing) plug into without scheduler importing them.

`app.py` (the composition root) registers the callbacks; booking services await them inside the same
transaction as the change, so a callback that fails rolls the change back with it.

- `on_status_change`: after an appointment moves from one status to another (arrive, complete, no-show,
  cancel, an unpaid hold released, a held booking confirmed once paid). Billing writes no-show and late-cancel
  fees here (charged once the change has committed), resolves a cancelled visit's deposit, and auto-charges a
  completed series visit. A callback may answer one sentence for the client about their money ("Your $30.00
  deposit will be refunded …"): the cancellation e-mail prints it as it is, so the scheduler tells the client
  what happened without knowing anything of payments.
- `on_online_booking`: after a client books online, before the response. A callback that answers a
  `PaymentHold` turns the booking into a `pending_payment` hold that expires at `expires_at`
  unless paid; the client is sent to `checkout_url`. The booking's confirmation is then queued held for the
  visit (`scheduler.mail.services.release_held` sends it when billing fulfils the deposit), and a deposit
  that arrives after the hold was released goes through `services.reinstate_released_hold`.
- `on_booking_page`: what the client should know about money before pressing "Book" (a card will be saved,
  nothing charged now): each callback answers one sentence or None, and the booking page prints them.
- `on_client_page`: what the desk should know about a client's money on the client's page (account credit to
  use at the next checkout): each callback answers one sentence or None.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from scheduler.booking.models import Appointment, AppointmentStatus
    from scheduler.clients.models import Client
    from scheduler.practice.models import Practice


@dataclass(frozen=True)
class PaymentHold:
    """The online booking must be paid (a deposit), or a card saved (the practice's `card_required`), by
    `expires_at` at `checkout_url` (whose link lives as long)."""

    checkout_url: str
    expires_at: dt.datetime


StatusChangeHook = Callable[
    ["AsyncSession", "Appointment", "AppointmentStatus", "AppointmentStatus"], Awaitable[str | None]
]
OnlineBookingHook = Callable[["AsyncSession", "Practice", "Appointment", str], Awaitable[PaymentHold | None]]

BookingPageHook = Callable[["AsyncSession", "Practice"], Awaitable[str | None]]

on_status_change: list[StatusChangeHook] = []
on_online_booking: list[OnlineBookingHook] = []
ClientPageHook = Callable[["AsyncSession", "Client"], Awaitable[str | None]]
on_booking_page: list[BookingPageHook] = []
on_client_page: list[ClientPageHook] = []


def register_status_change(hook: StatusChangeHook) -> None:
    """Add a callback once (apps are created more than once in one process: tests, workers)."""
    if hook not in on_status_change:
        on_status_change.append(hook)


def register_online_booking(hook: OnlineBookingHook) -> None:
    if hook not in on_online_booking:
        on_online_booking.append(hook)


def register_booking_page(hook: BookingPageHook) -> None:
    if hook not in on_booking_page:
        on_booking_page.append(hook)


def register_client_page(hook: ClientPageHook) -> None:
    if hook not in on_client_page:
        on_client_page.append(hook)


async def client_page_notes(session: AsyncSession, client: Client) -> list[str]:
    """The sentences the desk's client page shows about the client's money, in the order registered."""
    notes = [await hook(session, client) for hook in list(on_client_page)]
    return [note for note in notes if note]


async def booking_page_notes(session: AsyncSession, practice: Practice) -> list[str]:
    """The sentences the booking page shows before "Book", in the order the callbacks were registered."""
    notes = [await hook(session, practice) for hook in list(on_booking_page)]
    return [note for note in notes if note]


async def status_changed(
    session: AsyncSession, appointment: Appointment, old: AppointmentStatus, new: AppointmentStatus
) -> list[str]:
    """Run every callback; the sentences they answered for the client, in order."""
    notes: list[str] = []
    for hook in list(on_status_change):
        note = await hook(session, appointment, old, new)
        if note:
            notes.append(note)
    return notes


async def online_booking_hold(
    session: AsyncSession, practice: Practice, appointment: Appointment, base_url: str
) -> PaymentHold | None:
    for hook in list(on_online_booking):
        hold = await hook(session, practice, appointment, base_url)
        if hold is not None:
            return hold
    return None
