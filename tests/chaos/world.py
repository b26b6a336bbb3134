"""The money chaos harness: one Carebook app on the test database, driven over HTTP the way a practice and its
clients drive it, against the offline Stripe sandbox, with the ledger checks the chaos test asserts.

`MoneyWorld` owns, for one Hypothesis example:
- the app (`create_app`) served in process by Litestar's `TestClient`. The test client runs the app on the
  event loop of its blocking portal (a thread of its own); that loop is the one loop of the example: the
  sandbox's webhook sender delivers on it (the app's start-up points the sender there), and every async call
  the harness makes itself (draining webhooks, `carebook stripe reconcile`, reading the database) is handed
  to it with `portal.call`, so nothing ever crosses loops;
- the demo practice (emptied tables, `seed_demo`, a desk and an owner token), its payment policy
  (`PUT /api/v1/billing/policy`) and a 7-day cancellation window (`PATCH /api/v1/practice/policy`), so that
  "inside the late-cancel window" is a fixed number of days whatever the time of day the suite runs;
- what the clients and the desk did (visits, clients, saved cards), every HTTP answer and webhook delivery,
  and the app's logged errors (so a 500 names the exception behind it).

The checks (`check`) read our database directly and the sandbox's objects (`StripeSandbox.objects`) and raise
one exception class per invariant, so Hypothesis reports each broken invariant as a distinct failure.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from billing.gateway import GatewayUnavailable
from billing.models import Invoice, InvoiceLine, Payment, Refund, StripeCustomer
from billing.models import WebhookEvent as WebhookEventRow
from billing.reconcile import replay_undelivered
from billing.sandbox import Fault, StripeSandbox
from billing.stripe_gateway import StripeGateway
from scheduler.app import create_app
from scheduler.booking.models import Appointment
from scheduler.db import build_alchemy_config
from scheduler.practice.models import Role
from scheduler.settings import Settings
from tests.conftest import empty_all_tables
from tests.integration.conftest import Factory

BASE = "http://testserver.local"
NEW_YORK = ZoneInfo("America/New_York")
HTML = {"Accept": "text/html"}
CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')
SESSION_RE = re.compile(r"/sandbox/checkout/(cs_[\w]+)")
CARD_METHODS = frozenset({"card_on_file", "pay_link", "online_deposit"})
# The practice's cancellation window (the API's maximum): a visit 1-6 days ahead is inside it, 9+ days outside.
WINDOW_HOURS = 168
POLICY = {
    "deposit_kind": "percent",
    "deposit_percent_bp": 2500,
    "hold_minutes": 20,
    "no_show_fee": 4000,
    "late_cancel_fee": 2500,
}
T = TypeVar("T")
# Invariants to leave out while hunting for other defects (`make chaos CAREBOOK_CHAOS_SKIP=cancelled,overpaid`):
# server_errors, overpaid, card_money, cancelled. Empty (the default) checks everything.
SKIP = frozenset(filter(None, (os.environ.get("CAREBOOK_CHAOS_SKIP") or "").replace(" ", "").split(",")))


# --- what the invariants raise: one class each, so Hypothesis tells the failures apart ---------------------------


class ChaosViolation(AssertionError):
    """An invariant of the money chaos test does not hold."""


class ServerErrorAnswered(ChaosViolation):
    """A page, an API call or a webhook answered 5xx (other than 503 while Stripe was made unreachable)."""


class CardMoneyMismatch(ChaosViolation):
    """Stripe's net card money for an invoice differs from the card money our database records for it."""


class InvoiceOverpaid(ChaosViolation):
    """An invoice records more paid than its total with no refund of the difference under way."""


class CancelledVisitOwes(ChaosViolation):
    """A cancelled visit's invoice is left open with a balance beyond its fees (its deposit is not resolved)."""


class ReconcileFailed(ChaosViolation):
    """`carebook stripe reconcile` could not apply an undelivered event."""


class EventsUnapplied(ChaosViolation):
    """After settling (held events released, drained, reconciled) some event was still never applied."""


# --- what happened -----------------------------------------------------------------------------------------------


@dataclass
class ClientRef:
    seq: int
    id: str
    email: str
    card: str | None = None  # the test card last saved for the client (desk or deposit checkout)

    @property
    def label(self) -> str:
        return f"client #{self.seq} ({self.email})"


@dataclass
class Visit:
    seq: int
    id: str
    client_id: str
    start: dt.datetime
    origin: str  # "online" (public booking) or "desk" (POST /api/v1/appointments)
    when: str  # "past", "late" (inside the cancellation window) or "early" (outside it)
    manage_token: str | None = None
    deposit_link: str | None = None
    session_id: str | None = None  # the deposit's Checkout Session, once the link was opened

    @property
    def label(self) -> str:
        return f"visit #{self.seq} ({self.origin}, {self.when})"


@dataclass(frozen=True)
class Answer:
    step: int
    method: str
    path: str
    status: int
    body: str


@dataclass
class Ledger:
    """Our database as the checks read it (plain rows, no ORM session)."""

    appointments: dict[str, dict[str, Any]]
    invoices: dict[str, dict[str, Any]]
    fee_lines: dict[str, int]  # invoice id -> sum of its fee lines
    payments: list[dict[str, Any]]  # oldest first
    refunds: list[dict[str, Any]]
    applied_events: set[str]
    saved_cards: dict[str, str | None]  # client id -> default payment method

    def payments_of(self, invoice_id: str) -> list[dict[str, Any]]:
        return [p for p in self.payments if p["invoice_id"] == invoice_id]

    def refunds_of(self, payment_id: str) -> list[dict[str, Any]]:
        return [r for r in self.refunds if r["payment_id"] == payment_id]


class _ErrorLog(logging.Handler):
    """Keeps the app's ERROR records (an unhandled exception behind a 500) for the failure messages."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f": {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        self.records.append(text)


def _weekday(offset_days: int, hour: int) -> dt.datetime:
    day = dt.datetime.now(NEW_YORK).date() + dt.timedelta(days=offset_days)
    return dt.datetime.combine(day, dt.time(hour), NEW_YORK)


def _slots(days: range) -> list[dt.datetime]:
    """Free starts, one visit per two hours (60 minutes plus the 15-minute buffer), weekdays only."""
    found = []
    for offset in days:
        for hour in (9, 11, 13, 15):
            start = _weekday(offset, hour)
            if start.weekday() < 5:
                found.append(start)
    return found


class MoneyWorld:
    """One example's app, practice, clients and sandbox, and the checks; see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app: Litestar = create_app(settings)
        self.client = TestClient(app=self.app, base_url=BASE, raise_server_exceptions=False)
        self.errors = _ErrorLog()
        logging.getLogger("carebook").addHandler(self.errors)
        self.engine: AsyncEngine = create_async_engine(settings.database_url, poolclass=NullPool)
        self.factory = Factory(settings)
        self.reconcile_config = build_alchemy_config(settings, pooled=False)
        self.client.__enter__()
        gateway: StripeGateway = self.app.state.payment_gateway
        assert gateway.sandbox is not None, "the chaos test runs on the offline sandbox"
        self.gateway = gateway
        self.sandbox: StripeSandbox = gateway.sandbox
        self.step = 0
        self.answers: list[Answer] = []
        self.visits: list[Visit] = []
        self.clients: list[ClientRef] = []
        self.notes: list[str] = []  # what each step did, for the failure message
        self._seq = itertools.count(1)
        self._free = {
            "past": _slots(range(-60, -1)),
            "late": _slots(range(1, 7)),
            "early": _slots(range(9, 80)),
        }
        self._checked_answers = 0
        self._checked_attempts = 0
        self._checked_errors = 0
        self._faulted_at_step_start = 0
        self.call(self._prepare)

    # --- plumbing ------------------------------------------------------------------------------------------------

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(*args)` on the app's event loop (the test client's portal) and return its result."""
        portal = self.client.blocking_portal
        return portal.call(fn, *args)

    async def _prepare(self) -> None:
        await empty_all_tables(self.engine)
        practice = await self.factory.demo()
        self.desk = await self.factory.staff(practice, Role.DESK)
        self.owner = await self.factory.staff(practice, Role.OWNER)

    def close(self) -> None:
        try:
            self.call(self._drain)
            self.call(self._dispose)
        finally:
            self.client.__exit__(None, None, None)
            logging.getLogger("carebook").removeHandler(self.errors)

    async def _dispose(self) -> None:
        await self.engine.dispose()
        await self.factory.alchemy.get_engine().dispose()
        await self.reconcile_config.get_engine().dispose()
        await self.app.state.alchemy.get_engine().dispose()

    async def _drain(self) -> None:
        await self.sandbox.webhooks.drain()

    def drain(self) -> None:
        self.call(self._drain)

    def begin_step(self, description: str) -> None:
        self.step += 1
        self._faulted_at_step_start = self._faulted()
        self.notes.append(f"step {self.step}: {description}")

    def note(self, text: str) -> None:
        self.notes.append(f"    {text}")

    def _faulted(self) -> int:
        return sum(1 for request in self.sandbox.requests if request.fault is not None)

    def http(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to the app; every answer is recorded. Webhooks the request caused are delivered (as
        Stripe would, in the background on the app's loop) and waited for before the next request."""
        response = self.client.request(method, path, **kwargs)
        body = response.text if response.headers.get("content-type", "").find("json") >= 0 else ""
        self.answers.append(Answer(self.step, method, path, response.status_code, body[:300]))
        self.note(f"{method} {path} -> {response.status_code}")
        self.drain()
        return response

    def concurrently(self, calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
        """Send the requests at once, as several browsers and the desk do: each from its own thread, all
        served side by side on the app's loop (with the webhooks they cause)."""
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(lambda call: call(), calls))

    @property
    def staff(self) -> dict[str, str]:
        return self.desk.headers

    # --- set-up --------------------------------------------------------------------------------------------------

    def configure(self) -> None:
        answer = self.http("PUT", "/api/v1/billing/policy", json=POLICY, headers=self.owner.headers)
        assert answer.status_code == 200, answer.text
        window = self.http(
            "PATCH",
            "/api/v1/practice/policy",
            json={"cancellation_window_hours": WINDOW_HOURS},
            headers=self.owner.headers,
        )
        assert window.status_code == 200, window.text
        demo_services = self.http("GET", "/api/v1/practices/demo/services").json()["items"]
        self.massage = next(s for s in demo_services if s["duration_minutes"] == 60 and s["fsa_eligible"])
        therapists = self.http("GET", "/api/v1/practices/demo/therapists").json()["items"]
        self.therapist_id = str(therapists[0]["id"])
        for _ in range(2):
            self.new_desk_client()

    def set_policy(self, deposit: str) -> None:
        body = dict(POLICY)
        if deposit == "fixed":
            body |= {"deposit_kind": "fixed", "deposit_fixed": 5000}
        elif deposit in ("full", "none"):
            body |= {"deposit_kind": deposit}
        elif deposit == "credit":  # a late cancel's or no-show's deposit is kept as the client's account credit
            body |= {"kept_deposit": "credit"}
        self.http("PUT", "/api/v1/billing/policy", json=body, headers=self.owner.headers)

    def new_desk_client(self) -> ClientRef:
        seq = next(self._seq)
        email = f"desk{seq}@example.test"
        created = self.http(
            "POST",
            "/api/v1/clients",
            json={"first_name": "Desk", "last_name": f"Client{seq}", "email": email, "phone": "212-555-0199"},
            headers=self.staff,
        )
        assert created.status_code == 201, created.text
        ref = ClientRef(seq=len(self.clients) + 1, id=str(created.json()["id"]), email=email)
        self.clients.append(ref)
        return ref

    def has_slot(self, when: str) -> bool:
        return bool(self._free[when])

    def _take_slot(self, when: str) -> dt.datetime:
        return self._free[when].pop(0)

    # --- clients online ------------------------------------------------------------------------------------------

    def book_online(self, when: str, email_no: int) -> Visit | None:
        start = self._take_slot(when)
        email = f"online{email_no}@example.test"
        booked = self.http(
            "POST",
            "/api/v1/practices/demo/bookings",
            json={
                "service_id": self.massage["id"],
                "therapist_id": self.therapist_id,
                "start": start.isoformat(),
                "client": {"first_name": "Online", "last_name": f"Client{email_no}", "email": email, "phone": ""},
            },
        )
        if booked.status_code != 201:
            return None
        body = booked.json()
        client_id = str(body["appointment"]["client_id"])
        if not any(c.id == client_id for c in self.clients):
            self.clients.append(ClientRef(seq=len(self.clients) + 1, id=client_id, email=email))
        visit = Visit(
            seq=len(self.visits) + 1,
            id=str(body["appointment"]["id"]),
            client_id=client_id,
            start=start,
            origin="online",
            when=when,
            manage_token=str(body["manage_url"]).rsplit("/", 1)[-1],
            deposit_link=body.get("checkout_url"),
        )
        self.visits.append(visit)
        self.note(f"-> {visit.label} {visit.id}, deposit link: {bool(visit.deposit_link)}")
        return visit

    def open_deposit(self, visit: Visit) -> str | None:
        """The client follows the deposit link: the Checkout Session's id (None when the link opens none)."""
        assert visit.deposit_link is not None
        opened = self.http("GET", visit.deposit_link.removeprefix(BASE), headers=HTML, follow_redirects=False)
        found = SESSION_RE.search(opened.headers.get("location", "")) if opened.status_code == 303 else None
        if found is not None:
            visit.session_id = found.group(1)
        return visit.session_id if found is not None else None

    def pay_checkout(self, session_id: str, cards: list[str], *, follow_return: bool) -> bool:
        """The client pays on the hosted page, trying each card in turn until one goes through (3-D Secure
        cards are confirmed on the page); then follows the success redirect unless `follow_return` is False
        (the tab was closed). True when a card went through."""
        for card in cards:
            page = self.http("GET", f"/sandbox/checkout/{session_id}", headers=HTML)
            token = CSRF_RE.search(page.text)
            if page.status_code != 200 or token is None or 'id="pay"' not in page.text:
                return False
            form = {"card": card, "_csrf_token": token.group(1)}
            paid = self.http(
                "POST", f"/sandbox/checkout/{session_id}/pay", data=form, headers=HTML, follow_redirects=False
            )
            if paid.status_code == 200 and "Confirm this payment" in paid.text:
                form["authenticated"] = "1"
                paid = self.http(
                    "POST", f"/sandbox/checkout/{session_id}/pay", data=form, headers=HTML, follow_redirects=False
                )
            if paid.status_code == 303:
                if follow_return:
                    self.http("GET", paid.headers["location"].removeprefix(BASE), headers=HTML)
                return True
        return False

    def expire_checkout(self, session_id: str) -> None:
        """The client walked away: the session reaches its `expires_at` and Stripe expires it."""

        async def expire() -> None:
            self.sandbox.expire_checkout(session_id)

        try:
            self.call(expire)
        except Exception as exc:  # already complete or expired: Stripe answers 400, nothing happens
            self.note(f"expire {session_id}: {type(exc).__name__}")
        self.drain()

    def cancel_online(self, visit: Visit) -> httpx.Response:
        assert visit.manage_token is not None
        return self.http(
            "POST", f"/api/v1/practices/demo/manage/{visit.manage_token}/cancel", json={"reason": "cannot come"}
        )

    # --- the desk ------------------------------------------------------------------------------------------------

    def desk_visit(self, client: ClientRef, when: str) -> Visit | None:
        start = self._take_slot(when)
        created = self.http(
            "POST",
            "/api/v1/appointments",
            json={
                "client_id": client.id,
                "service_id": self.massage["id"],
                "therapist_id": self.therapist_id,
                "start": start.isoformat(),
            },
            headers=self.staff,
        )
        if created.status_code != 201:
            return None
        visit = Visit(
            seq=len(self.visits) + 1,
            id=str(created.json()["id"]),
            client_id=client.id,
            start=start,
            origin="desk",
            when=when,
        )
        self.visits.append(visit)
        self.note(f"-> {visit.label} {visit.id} for {client.label}")
        return visit

    def save_card(self, client: ClientRef, card: str) -> None:
        saved = self.http(
            "POST", f"/api/v1/clients/{client.id}/card", json={"payment_method": card}, headers=self.staff
        )
        if saved.status_code == 201:
            client.card = card

    def checkout(self, visit: Visit) -> dict[str, Any] | None:
        answer = self.http("POST", f"/api/v1/appointments/{visit.id}/checkout", headers=self.staff)
        return dict(answer.json()) if answer.status_code == 201 else None

    def tender(self, visit: Visit, method: str, amount_choice: str) -> None:
        invoice = self.checkout(visit)
        if invoice is None:
            return
        balance = int(invoice["balance"])
        pending = [p for p in invoice["payments"] if p["status"] == "pending" and p["method"] == method]
        if amount_choice == "retry" and pending:
            amount = int(pending[0]["amount"])  # the desk presses "charge" again after a timeout
        elif amount_choice == "half":
            amount = max(balance // 2, 1)
        elif amount_choice == "over":
            amount = balance + 500
        else:
            amount = balance
        if amount <= 0:
            amount = 100  # a settled invoice: the desk tries anyway (a retry of what already went through)
        self.http(
            "POST",
            f"/api/v1/invoices/{invoice['id']}/payments",
            json={"method": method, "amount": amount},
            headers=self.staff,
        )

    def refund(self, payment_id: str, amount: int) -> None:
        self.http(
            "POST",
            f"/api/v1/payments/{payment_id}/refunds",
            json={"amount": amount, "reason": "chaos"},
            headers=self.staff,
        )

    def act(self, visit: Visit, action: str) -> httpx.Response:
        if action == "cancel":
            return self.http(
                "POST", f"/api/v1/appointments/{visit.id}/cancel", json={"reason": "desk"}, headers=self.staff
            )
        return self.http("POST", f"/api/v1/appointments/{visit.id}/{action}", headers=self.staff)

    # --- Stripe's side ---------------------------------------------------------------------------------------------

    def inject(self, fault: Fault, times: int, path: str | None) -> None:
        self.sandbox.faults.inject(fault, times=times, path=path)

    def hold(self) -> None:
        self.sandbox.webhooks.hold()

    def release(self, *, reverse: bool, times: int) -> None:
        async def release() -> None:
            await self.sandbox.webhooks.release(reverse=reverse, times=times)
            await self.sandbox.webhooks.drain()

        self.call(release)

    def drop_next(self, count: int) -> None:
        self.sandbox.webhooks.drop_next(count)

    def redeliver(self, index: int, times: int) -> None:
        events = self.sandbox.events()
        if not events:
            return
        event_id = events[index % len(events)]["id"]

        async def redeliver() -> None:
            await self.sandbox.webhooks.redeliver(event_id, times=times)

        self.call(redeliver)

    def reconcile(self) -> dict[str, int] | None:
        """`carebook stripe reconcile`: the function the CLI calls, on this app's gateway and database."""
        try:
            counts = self.call(replay_undelivered, self.reconcile_config, self.gateway, 1000)
        except GatewayUnavailable:
            self.note("reconcile: Stripe unreachable (an injected fault)")
            return None
        except Exception as exc:
            raise ReconcileFailed(
                f"carebook stripe reconcile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:400]}"
                + self._story()
            ) from exc
        self.note(f"reconcile: {counts}")
        return counts

    def settle(self) -> None:
        """Stripe is healthy again and catches up: faults cleared, held events released in order, every
        background delivery waited for, undelivered events reconciled."""
        self.sandbox.faults.clear()
        self.release(reverse=False, times=1)
        self.drain()
        self.reconcile()
        self.drain()

    # --- reading the ledger ------------------------------------------------------------------------------------------

    async def _read(self) -> Ledger:
        async with self.engine.connect() as conn:
            appointments = {
                str(row.id): dict(row._mapping)
                for row in await conn.execute(
                    select(Appointment.id, Appointment.status, Appointment.cancel_reason, Appointment.client_id)
                )
            }
            invoices = {
                str(row.id): dict(row._mapping)
                for row in await conn.execute(
                    select(Invoice.id, Invoice.appointment_id, Invoice.status, Invoice.total, Invoice.paid)
                )
            }
            fee_lines: dict[str, int] = defaultdict(int)
            for row in await conn.execute(
                select(InvoiceLine.invoice_id, InvoiceLine.amount, InvoiceLine.quantity, InvoiceLine.kind)
            ):
                if _plain(row.kind) == "fee":
                    fee_lines[str(row.invoice_id)] += int(row.amount) * int(row.quantity)
            payments = [
                {key: (str(value) if key in ("id", "invoice_id") else value) for key, value in row._mapping.items()}
                for row in await conn.execute(
                    select(
                        Payment.id,
                        Payment.invoice_id,
                        Payment.method,
                        Payment.amount,
                        Payment.status,
                        Payment.refunded,
                        Payment.purpose,
                        Payment.gateway_payment_intent,
                        Payment.gateway_checkout_session,
                        Payment.checkout_url,
                        Payment.created_at,
                    ).order_by(Payment.created_at)
                )
            ]
            refunds = [
                {key: (str(value) if key in ("id", "payment_id") else value) for key, value in row._mapping.items()}
                for row in await conn.execute(
                    select(Refund.id, Refund.payment_id, Refund.amount, Refund.status, Refund.idempotency_key)
                )
            ]
            applied = {str(row[0]) for row in await conn.execute(select(WebhookEventRow.event_id))}
            cards = {
                str(row.client_id): row.default_payment_method
                for row in await conn.execute(select(StripeCustomer.client_id, StripeCustomer.default_payment_method))
            }
        for rows in (payments, refunds):
            for row in rows:
                row["status"] = _plain(row["status"])
        for payment in payments:
            payment["method"] = _plain(payment["method"])
        for invoice in invoices.values():
            invoice["status"] = _plain(invoice["status"])
            invoice["appointment_id"] = str(invoice["appointment_id"]) if invoice["appointment_id"] else None
        for appointment in appointments.values():
            appointment["status"] = _plain(appointment["status"])
        return Ledger(appointments, invoices, dict(fee_lines), payments, refunds, applied, cards)

    def ledger(self) -> Ledger:
        return self.call(self._read)

    def visit_status(self, ledger: Ledger, visit: Visit) -> str:
        row = ledger.appointments.get(visit.id)
        return str(row["status"]) if row else "unknown"

    def invoice_of(self, ledger: Ledger, visit: Visit) -> dict[str, Any] | None:
        return next((inv for inv in ledger.invoices.values() if inv["appointment_id"] == visit.id), None)

    # --- the invariants ----------------------------------------------------------------------------------------------

    def quiescent(self, ledger: Ledger) -> bool:
        """Stripe has nothing more to tell us: no event held back, and every event it emitted was delivered
        (answered 2xx) or applied by reconciliation."""
        if self.sandbox.webhooks.held:
            return False
        return all(
            event["pending_webhooks"] == 0 or event["id"] in ledger.applied_events for event in self.sandbox.events()
        )

    def check(self, *, strict: bool) -> Ledger:
        """Every step: no 5xx, nothing overpaid. When Stripe has nothing more to tell us (always after
        `settle`, `strict`): Stripe's card money equals ours for every invoice, and no cancelled visit owes
        more than its fees. Raises the first violation found; returns the ledger it read."""
        self.drain()
        if "server_errors" not in SKIP:
            self._check_no_server_errors()
        ledger = self.ledger()
        if "overpaid" not in SKIP:
            self._check_not_overpaid(ledger)
        if strict:
            unapplied = [
                f"{event['type']} {event['id']}"
                for event in self.sandbox.events()
                if event["pending_webhooks"] != 0 and event["id"] not in ledger.applied_events
            ]
            if unapplied:
                raise EventsUnapplied(
                    f"after settling, {len(unapplied)} event(s) were never applied: {unapplied[:5]}" + self._story()
                )
        if strict or self.quiescent(ledger):
            if "card_money" not in SKIP:
                self._check_card_money(ledger)
            if "cancelled" not in SKIP:
                self._check_cancelled_visits(ledger)
        return ledger

    def _check_no_server_errors(self) -> None:
        faulted = self._faulted() > self._faulted_at_step_start
        answers = self.answers[self._checked_answers :]
        attempts = self.sandbox.webhooks.attempts[self._checked_attempts :]
        errors = self.errors.records[self._checked_errors :]
        self._checked_answers = len(self.answers)
        self._checked_attempts = len(self.sandbox.webhooks.attempts)
        self._checked_errors = len(self.errors.records)
        # 503 is the honest answer while Stripe cannot be reached (an injected fault in this step).
        bad = [
            f"{a.method} {a.path} answered {a.status} {a.body}"
            for a in answers
            if a.status >= 500 and not (a.status == 503 and faulted)
        ]
        bad += [
            f"webhook {attempt.event_id} ({self._event_type(attempt.event_id)}) answered {attempt.status}"
            for attempt in attempts
            if attempt.status is not None and attempt.status >= 500 and not (attempt.status == 503 and faulted)
        ]
        if bad:
            logged = "".join(f"\n    logged: {line}" for line in errors[-5:])
            raise ServerErrorAnswered("5xx answered:\n  " + "\n  ".join(bad) + logged + self._story())

    def _event_type(self, event_id: str) -> str:
        return next((e["type"] for e in self.sandbox.events() if e["id"] == event_id), "?")

    def _check_not_overpaid(self, ledger: Ledger) -> None:
        for invoice_id, invoice in ledger.invoices.items():
            if invoice["status"] == "void" or invoice["paid"] <= invoice["total"]:
                continue
            refund_under_way = any(
                refund["status"] == "pending"
                for payment in ledger.payments_of(invoice_id)
                for refund in ledger.refunds_of(payment["id"])
            )
            if not refund_under_way:
                raise InvoiceOverpaid(
                    f"invoice {invoice_id} of {self._visit_label(invoice['appointment_id'])} records paid "
                    f"{invoice['paid']} > total {invoice['total']} with no refund under way" + self._story()
                )

    def stripe_card_money(self) -> dict[str, tuple[int, list[str]]]:
        """Per invoice (the `invoice_id` in the PaymentIntent's metadata): succeeded charges less succeeded
        refunds at Stripe, and what they were."""
        intents = {
            pi["id"]: str(pi["metadata"].get("invoice_id"))
            for pi in self.sandbox.objects("payment_intent")
            if pi.get("metadata", {}).get("invoice_id")
        }
        net: dict[str, int] = defaultdict(int)
        detail: dict[str, list[str]] = defaultdict(list)
        for charge in self.sandbox.objects("charge"):
            invoice_id = intents.get(str(charge.get("payment_intent")))
            if invoice_id is not None and charge["status"] == "succeeded":
                net[invoice_id] += int(charge["amount_captured"])
                purpose = charge.get("metadata", {}).get("purpose", "?")
                detail[invoice_id].append(f"charge {charge['amount_captured']} ({purpose}, {charge['payment_intent']})")
        for refund in self.sandbox.objects("refund"):
            invoice_id = intents.get(str(refund.get("payment_intent")))
            if invoice_id is not None and refund["status"] == "succeeded":
                net[invoice_id] -= int(refund["amount"])
                detail[invoice_id].append(f"refund {refund['amount']} ({refund['payment_intent']})")
        return {invoice_id: (net[invoice_id], detail[invoice_id]) for invoice_id in net}

    @staticmethod
    def our_card_money(ledger: Ledger) -> dict[str, tuple[int, list[str]]]:
        """Per invoice: succeeded card payments less their succeeded refunds, as our database records them."""
        net: dict[str, int] = defaultdict(int)
        detail: dict[str, list[str]] = defaultdict(list)
        for payment in ledger.payments:
            if payment["method"] not in CARD_METHODS:
                continue
            invoice_id = payment["invoice_id"]
            detail[invoice_id].append(
                f"{payment['method']} {payment['amount']} {payment['status']} ({payment['purpose']}, "
                f"{payment['gateway_payment_intent']})"
            )
            if payment["status"] != "succeeded":
                continue
            net[invoice_id] += int(payment["amount"])
            for refund in ledger.refunds_of(payment["id"]):
                detail[invoice_id].append(f"  refund {refund['amount']} {refund['status']} {refund['idempotency_key']}")
                # A deposit kept as account credit (`deposit_credit:<payment id>`) leaves the invoice but not the
                # practice: no money went back at Stripe, so it is still card money this invoice's charge brought.
                if refund["status"] == "succeeded" and not str(refund["idempotency_key"]).startswith("deposit_credit:"):
                    net[invoice_id] -= int(refund["amount"])
        return {invoice_id: (net[invoice_id], detail[invoice_id]) for invoice_id in detail}

    def _check_card_money(self, ledger: Ledger) -> None:
        theirs = self.stripe_card_money()
        ours = self.our_card_money(ledger)
        for invoice_id in sorted(set(theirs) | set(ours)):
            stripe_net, stripe_detail = theirs.get(invoice_id, (0, []))
            our_net, our_detail = ours.get(invoice_id, (0, []))
            if stripe_net != our_net:
                invoice = ledger.invoices.get(invoice_id, {})
                raise CardMoneyMismatch(
                    f"invoice {invoice_id} of {self._visit_label(invoice.get('appointment_id'))}: Stripe's net card "
                    f"money is {stripe_net} but our database records {our_net}\n"
                    f"  at Stripe: {stripe_detail}\n  ours: {our_detail}" + self._story()
                )

    def _check_cancelled_visits(self, ledger: Ledger) -> None:
        for invoice_id, invoice in ledger.invoices.items():
            appointment = ledger.appointments.get(str(invoice["appointment_id"]))
            if appointment is None or appointment["status"] != "cancelled" or invoice["status"] == "void":
                continue
            balance = int(invoice["total"]) - int(invoice["paid"])
            fees = ledger.fee_lines.get(invoice_id, 0)
            if balance > fees:
                payments = [
                    f"{p['method']} {p['amount']} {p['status']} refunded {p['refunded']} ({p['purpose']})"
                    for p in ledger.payments_of(invoice_id)
                ]
                raise CancelledVisitOwes(
                    f"invoice {invoice_id} of cancelled {self._visit_label(invoice['appointment_id'])} "
                    f"(reason {appointment['cancel_reason']!r}) is {invoice['status']} with a balance of {balance} "
                    f"(fees {fees}, total {invoice['total']}, paid {invoice['paid']}); payments: {payments}"
                    + self._story()
                )

    def _visit_label(self, appointment_id: Any) -> str:
        visit = next((v for v in self.visits if v.id == str(appointment_id)), None)
        return visit.label if visit else f"appointment {appointment_id}"

    def _story(self) -> str:
        return "\n  what happened:\n" + "\n".join(self.notes[-60:])


def _plain(value: Any) -> str:
    """An enum column as its stored value ("succeeded"), whether the driver returned the enum or the string."""
    return str(getattr(value, "value", value))
