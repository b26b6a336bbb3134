"""Contract fixtures: the real `stripe` SDK through `StripeGateway`, answered by the offline sandbox (no DB)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from billing.gateway_factory import build_gateway
from billing.sandbox import StripeSandbox
from billing.stripe_gateway import StripeGateway
from scheduler.settings import Settings


@pytest.fixture
async def gateway() -> AsyncIterator[StripeGateway]:
    settings = Settings(database_url="sqlite+aiosqlite://", secret_key="contract", base_url="http://testserver.local")
    built = build_gateway(settings)
    assert built.sandbox is not None
    built.sandbox.webhooks.mode = "off"  # no app here to receive them; events stay listable as undelivered
    yield built
    await built.close()


@pytest.fixture
def sandbox(gateway: StripeGateway) -> StripeSandbox:
    assert gateway.sandbox is not None
    return gateway.sandbox


@pytest.fixture
async def customer(gateway: StripeGateway) -> str:
    return await gateway.ensure_customer("customer:client-1", email="ada@example.test", name="Ada Client")
