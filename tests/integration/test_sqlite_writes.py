"""Concurrent writes on the default database (SQLite) and in-process webhooks: no `database is locked` reaches
anyone, and a webhook the sandbox raises inside a request is delivered once that request's transaction ended.

The race goes to the real app served by uvicorn (`live_server`) over sockets: the in-process test client
serves requests one after another and would race nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.models import InvoiceLine, StripeCustomer
from billing.models import WebhookEvent as WebhookEventRow
from billing.sandbox import StripeSandbox
from billing.stripe_gateway import StripeGateway
from scheduler.clients.models import Client as ClientRow
from scheduler.db import begin_write, build_alchemy_config, lock_calendar_within_write, write_intent
from scheduler.practice.models import Practice, Role
from scheduler.settings import Settings
from tests.conftest import SERVER_LOG
from tests.integration.billing_helpers import Desk, checkout, desk_with_client, save_card, visit
from tests.integration.booking_helpers import Client
from tests.integration.conftest import Factory

DESK_WRITES = 50
CARD_SAVES = 20


def _sandbox(app: Litestar) -> StripeSandbox:
    gateway: StripeGateway = app.state.payment_gateway
    assert gateway.sandbox is not None
    return gateway.sandbox


async def _no_show_with_fee(client: Client, desk: Desk) -> str:
    policy = await client.put("/api/v1/billing/policy", json={"no_show_fee": 4000}, headers=desk.owner.headers)
    assert policy.status_code == 200, policy.text
    appointment = await visit(client, desk)
    marked = await client.post(f"/api/v1/appointments/{appointment}/no-show", headers=desk.headers)
    assert marked.status_code == 200, marked.text
    assert marked.json()["status"] == "no_show"
    return appointment


async def test_no_show_with_fee_and_saved_card_answers_200(client: Client, app: Litestar, factory: Factory) -> None:
    sandbox = _sandbox(app)  # delivering its webhooks into the app as it does under `make run`
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    appointment = await _no_show_with_fee(client, desk)
    await sandbox.webhooks.drain()
    assert [(a.event_id, a.status) for a in sandbox.webhooks.attempts if a.status != 200] == []
    inv = await checkout(client, desk, appointment)
    assert [(p["purpose"], p["status"], p["amount"]) for p in inv["payments"]] == [("no_show_fee", "succeeded", 4000)]


async def test_a_webhook_raised_by_a_request_is_delivered_after_its_transaction_ended(
    client: Client, app: Litestar, factory: Factory, engine: AsyncEngine
) -> None:
    sandbox = _sandbox(app)
    desk = await desk_with_client(client, factory)
    await save_card(client, desk)
    await sandbox.webhooks.drain()
    post = sandbox.webhooks.poster
    seen: list[tuple[str, str | None]] = []

    async def post_and_look(url: str, body: bytes, headers: dict[str, str]) -> int:
        # What the webhook's own transaction is about to read: the fee the no-show request charged.
        async with engine.connect() as conn:
            status = await conn.scalar(text("SELECT status FROM payment WHERE idempotency_key LIKE 'no_show_fee:%'"))
        seen.append((json.loads(body)["type"], status))
        return await post(url, body, headers)

    sandbox.webhooks.poster = post_and_look
    await _no_show_with_fee(client, desk)
    await sandbox.webhooks.drain()
    assert {event_type for event_type, _ in seen} >= {"payment_intent.succeeded", "charge.succeeded"}
    assert seen == [(event_type, "succeeded") for event_type, _ in seen]


async def test_a_webhook_raised_outside_a_request_is_delivered_at_once(app: Litestar, client: Client) -> None:
    sandbox = _sandbox(app)
    gateway: StripeGateway = app.state.payment_gateway
    await gateway.ensure_customer("customer:outside", email="cli@example.test", name="From the CLI")
    await asyncio.wait_for(sandbox.webhooks.drain(), 10)
    created = sandbox.events("customer.created")
    assert [a.event_id for a in sandbox.webhooks.attempts] == [created[-1]["id"]]


async def test_begin_write_keeps_a_transaction_that_began_with_the_write_lock(settings: Settings) -> None:
    alchemy = build_alchemy_config(settings, pooled=False)
    commits: list[bool] = []
    try:
        async with alchemy.get_session() as session:
            event.listen(session.sync_session, "after_commit", lambda _session: commits.append(True))
            with write_intent():
                await session.scalar(select(func.count()).select_from(Practice))
            await begin_write(session)
            await lock_calendar_within_write(session)
            assert session.in_transaction()
            assert commits == []  # what it read stays under the lock it took first
            await session.rollback()
    finally:
        await alchemy.get_engine().dispose()


# --- fifty desk writes racing the webhooks of card saves, over sockets -------------------------------------------


@pytest.fixture
async def http(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    racers = DESK_WRITES + CARD_SAVES
    limits = httpx.Limits(max_connections=racers, max_keepalive_connections=racers)
    async with httpx.AsyncClient(base_url=live_server, timeout=120, limits=limits) as racing:
        yield racing


def _server_errors_since(pytestconfig: pytest.Config, offset: int) -> list[str]:
    """Requests the live server answered with 5xx (webhook deliveries included) since `offset` of its log."""
    with pytestconfig.stash[SERVER_LOG].open("rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace").splitlines()
    return [
        line
        for line in lines
        if ('"event": "request"' in line and '"status": 5' in line) or "database is locked" in line
    ]


async def _count(engine: AsyncEngine, statement: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.scalar(statement)) or 0)


async def _webhooks_settle(engine: AsyncEngine, at_least: int) -> int:
    """Wait until the server has applied `at_least` webhook events and no more arrive for a moment."""
    deadline = time.monotonic() + 60
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = await _count(engine, select(func.count()).select_from(WebhookEventRow))
        if count != last:
            last, stable_since = count, time.monotonic()
        elif count >= at_least and time.monotonic() - stable_since > 1:
            return count
        await asyncio.sleep(0.1)
    return last


async def test_fifty_desk_writes_racing_card_save_webhooks_answer_no_5xx_and_all_land(
    http: httpx.AsyncClient, factory: Factory, engine: AsyncEngine, pytestconfig: pytest.Config
) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    headers = desk.headers
    card_holders = []
    for i in range(CARD_SAVES):
        created = await http.post(
            "/api/v1/clients",
            json={"first_name": "Card", "last_name": f"Holder{i}", "email": f"card{i}@example.test"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        card_holders.append(created.json()["id"])
    first = card_holders[0]
    services = (await http.get("/api/v1/practices/demo/services")).json()["items"]
    therapists = (await http.get("/api/v1/practices/demo/therapists")).json()["items"]
    service = next(s for s in services if s["duration_minutes"] == 60)
    booked = await http.post(
        "/api/v1/appointments",
        json={
            "client_id": first,
            "service_id": service["id"],
            "therapist_id": therapists[0]["id"],
            "start": "2024-03-05T10:00:00-05:00",
        },
        headers=headers,
    )
    assert booked.status_code == 201, booked.text
    opened = await http.post(f"/api/v1/appointments/{booked.json()['id']}/checkout", headers=headers)
    assert opened.status_code == 201, opened.text
    invoice_id = opened.json()["id"]
    with pytestconfig.stash[SERVER_LOG].open("rb") as log:
        log_offset = log.seek(0, 2)

    new_clients = DESK_WRITES // 2
    new_lines = DESK_WRITES - new_clients
    racers = [
        *(
            http.post(f"/api/v1/clients/{holder}/card", json={"payment_method": "pm_card_visa"}, headers=headers)
            for holder in card_holders
        ),
        *(
            http.post(
                "/api/v1/clients",
                json={"first_name": "Walk", "last_name": f"In{i}", "email": f"walkin{i}@example.test"},
                headers=headers,
            )
            for i in range(new_clients)
        ),
        *(
            http.post(
                f"/api/v1/invoices/{invoice_id}/lines",
                json={"kind": "retail", "description": f"Arnica gel {i}", "amount": 1299},
                headers=headers,
            )
            for i in range(new_lines)
        ),
    ]
    responses = await asyncio.gather(*racers)
    assert [(r.status_code, r.text) for r in responses if r.status_code != 201] == []

    await _webhooks_settle(engine, at_least=2 * CARD_SAVES)  # customer.created and payment_method.attached each
    assert _server_errors_since(pytestconfig, log_offset) == []
    saved = await _count(
        engine, select(func.count()).select_from(StripeCustomer).where(StripeCustomer.card_last4 == "4242")
    )
    assert saved == CARD_SAVES
    walk_ins = await _count(engine, select(func.count()).select_from(ClientRow).where(ClientRow.email.like("walkin%")))
    assert walk_ins == new_clients
    gels = await _count(
        engine, select(func.count()).select_from(InvoiceLine).where(InvoiceLine.description.like("Arnica gel%"))
    )
    assert gels == new_lines
