"""The offline Stripe sandbox under `carebook serve --workers 4`: one account for every worker and every restart.

A visit booked with a deposit through the public API gets a checkout link; its hosted page is opened and paid
through several requests that land on different worker processes (each sandbox page names its worker), and the
visit ends booked. A customer and a saved card survive a restart of the whole server. On the run's database
kind: a fresh SQLite file, or a fresh database on the run's PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import burst
from bench.burst import Server, throwaway_database
from billing.sandbox.pages import WORKER_HEADER
from tests.integration.booking_helpers import at, booking, weekday_ahead

WORKERS = 4
PAGE_VISITS = 40  # fresh connections to the checkout page: more than enough for the kernel to spread them


@pytest.fixture
def served_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # Four workers importing the app at once on a busy test machine take longer than a burst's single start.
    monkeypatch.setattr(burst, "SERVER_START_TIMEOUT", 240.0)
    with throwaway_database("sqlite" if database_url.startswith("sqlite") else database_url) as url:
        yield url


def carebook(database_url: str, *args: str) -> str:
    env = {**os.environ, "CAREBOOK_DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", *args], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')


def fresh(method: str, url: str, *, jar: httpx.Cookies | None = None, **kwargs: Any) -> httpx.Response:
    """One request on a connection of its own, so that the next may be accepted by another worker; `jar` keeps
    the browser's cookies (the CSRF cookie the hosted page's form needs) from one connection to the next."""
    with httpx.Client(timeout=30, cookies=jar) as client:
        response = client.request(method, url, **kwargs)
        if jar is not None:
            jar.update(client.cookies)
        return response


def pay(page: str, card: str, jar: httpx.Cookies) -> httpx.Response:
    shown = fresh("GET", page, jar=jar)
    assert shown.status_code == 200, shown.text
    token = CSRF_RE.search(shown.text)
    assert token is not None
    return fresh("POST", f"{page}/pay", jar=jar, data={"card": card, "_csrf_token": token.group(1)})


def book_with_deposit(base: str, token: str, email: str, hour: int) -> dict[str, Any]:
    staff = {"Authorization": f"Bearer {token}"}
    policy = fresh(
        "PUT",
        f"{base}/api/v1/billing/policy",
        json={"deposit_kind": "percent", "deposit_percent_bp": 2500, "hold_minutes": 20},
        headers=staff,
    )
    assert policy.status_code == 200, policy.text
    services = fresh("GET", f"{base}/api/v1/practices/demo/services").json()["items"]
    massage = next(service for service in services if service["duration_minutes"] == 60)
    therapist = fresh("GET", f"{base}/api/v1/practices/demo/therapists").json()["items"][0]
    start = at(weekday_ahead(), hour)
    booked = fresh(
        "POST",
        f"{base}/api/v1/practices/demo/bookings",
        json=booking(massage["id"], therapist["id"], start, email=email),
    )
    assert booked.status_code == 201, booked.text
    body: dict[str, Any] = booked.json()
    assert body["appointment"]["status"] == "pending_payment"
    return body


def appointment_status(base: str, token: str, appointment_id: str) -> str:
    day = weekday_ahead()
    found = fresh(
        "GET",
        f"{base}/api/v1/appointments",
        params={"date_from": day.isoformat(), "date_to": (day + dt.timedelta(days=1)).isoformat()},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert found.status_code == 200, found.text
    [appointment] = [item for item in found.json()["items"] if item["id"] == appointment_id]
    return str(appointment["status"])


def test_a_deposit_checkout_opened_through_one_worker_is_paid_through_another(
    served_database: str, tmp_path: Path
) -> None:
    carebook(served_database, "demo")
    token = carebook(served_database, "token", "create", "owner@demo.test").strip().splitlines()[-1]
    server = Server(served_database, workers=WORKERS, log_path=tmp_path / "server.log").start()
    try:
        base = server.base_url
        body = book_with_deposit(base, token, "ann@example.test", 11)
        opened = fresh("GET", body["checkout_url"], follow_redirects=False)
        assert opened.status_code == 303, opened.text
        page = opened.headers["location"]
        assert "/sandbox/checkout/cs_" in page

        jar = httpx.Cookies()
        pids = set()
        for _ in range(PAGE_VISITS):
            shown = fresh("GET", page, jar=jar)
            assert shown.status_code == 200, shown.text  # every worker sees the session another one opened
            assert "$30.00" in shown.text
            pids.add(shown.headers[WORKER_HEADER])
        paid = pay(page, "pm_card_visa", jar)
        assert paid.status_code == 303, paid.text
        pids.add(paid.headers[WORKER_HEADER])
        after = fresh("GET", page)
        assert after.status_code == 200

        assert len(pids) >= 2, f"every page request landed on one worker: {pids}"
        assert appointment_status(base, token, body["appointment"]["id"]) == "booked"
    except BaseException:
        print(server.log_tail())
        raise
    finally:
        server.stop()


def test_customers_and_a_saved_card_survive_a_server_restart(served_database: str, tmp_path: Path) -> None:
    from billing.sandbox import StripeSandbox
    from billing.sandbox.store import SandboxStore

    carebook(served_database, "demo")
    token = carebook(served_database, "token", "create", "owner@demo.test").strip().splitlines()[-1]
    log = tmp_path / "server.log"
    server = Server(served_database, workers=2, log_path=log).start()
    try:
        body = book_with_deposit(server.base_url, token, "bea@example.test", 14)
        page = fresh("GET", body["checkout_url"], follow_redirects=False).headers["location"]
        paid = pay(page, "pm_card_mastercard", httpx.Cookies())
        assert paid.status_code == 303, paid.text
    finally:
        server.stop()

    server = Server(served_database, workers=2, log_path=log, port=server.port).start()
    try:
        again = fresh("GET", page)
        assert again.status_code == 200  # the session, paid before the restart, is still there
        assert appointment_status(server.base_url, token, body["appointment"]["id"]) == "booked"
    finally:
        server.stop()
    # What the restarted account holds, read as the next process would: the customer and the card saved on it.
    sandbox = StripeSandbox(store=SandboxStore.for_database(served_database))
    try:
        [customer] = [c for c in sandbox.objects("customer") if c["email"] == "bea@example.test"]
        cards = [pm for pm in sandbox.objects("payment_method") if pm["customer"] == customer["id"]]
        assert [(card["card"]["brand"], card["card"]["last4"]) for card in cards] == [("mastercard", "4444")]
    finally:
        sandbox.close()
