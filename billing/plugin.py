"""Wires the payment gateway into the app: one gateway per application, injected as `payment_gateway`.

`create_app` adds `PaymentGatewayPlugin(settings)`. With no `CAREBOOK_STRIPE_SECRET_KEY` the gateway runs on
the offline sandbox: the plugin then also injects `stripe_sandbox`, mounts the hosted checkout stand-in under
`/sandbox`, and makes the sandbox post its webhooks into this very application (ASGI, in process — so
deliveries work the same under `make run` and in tests driving the app with `AsyncTestClient`), each once the
transaction of the request that raised it has ended.
The gateway is at `app.state.payment_gateway` for code that runs outside a request (CLI, tests).

After each response (so after the request's transaction committed) the plugin runs billing's follow-ups of
the invoices that request settled (`billing.settlement.run_committed`), then the app's own after-response
hook (the outbox flush, which then sends what the follow-ups wrote at once).
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Litestar, Request
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins import InitPluginProtocol
from litestar.types import AfterResponseHookHandler
from litestar.utils import ensure_async_callable

from billing import settlement
from billing.gateway_factory import build_gateway
from billing.sandbox.emulator import StripeSandbox
from billing.sandbox.webhooks import Poster
from billing.stripe_gateway import StripeGateway
from scheduler.settings import Settings
from scheduler.transaction import after_request_transaction

GATEWAY_STATE_KEY = "payment_gateway"


def asgi_poster(app: Any, base_url: str) -> Poster:
    """Post webhook bodies straight into `app` through httpx's ASGI transport: no socket, same code path."""
    import httpx

    async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=30) as client:
            response = await client.post(url, content=body, headers=headers)
            return response.status_code

    return post


class PaymentGatewayPlugin(InitPluginProtocol):
    def __init__(self, settings: Settings, gateway: StripeGateway | None = None) -> None:
        self.settings = settings
        self.gateway = gateway or build_gateway(settings)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        gateway = self.gateway
        app_config.state[GATEWAY_STATE_KEY] = gateway
        app_config.dependencies["payment_gateway"] = Provide(lambda: gateway, sync_to_thread=False)
        sandbox = gateway.sandbox
        if sandbox is not None:
            from billing.sandbox.pages import SandboxPagesController

            app_config.dependencies["stripe_sandbox"] = Provide(lambda: sandbox, sync_to_thread=False)
            app_config.route_handlers.append(SandboxPagesController)
            app_config.on_startup.append(self._deliver_in_process(sandbox))
        app_config.on_shutdown.append(self._close)
        app_config.after_response = self._after_response(app_config.after_response)
        return app_config

    @staticmethod
    def _after_response(then: AfterResponseHookHandler | None) -> AfterResponseHookHandler:
        async def after_response(request: Request[Any, Any, Any]) -> None:
            await settlement.run_committed(request.app.state.alchemy)
            if then is not None:
                await ensure_async_callable(then)(request)
                # What ran after the response (a fee or series charge sent once its status change committed) may
                # have settled an invoice: its follow-ups (expire other pay links, refund an overpayment) now.
                await settlement.run_committed(request.app.state.alchemy)

        return after_response

    def _deliver_in_process(self, sandbox: StripeSandbox) -> Any:
        base_url = self.settings.base_url

        def install(app: Litestar) -> None:
            sandbox.webhooks.poster = asgi_poster(app, base_url)
            sandbox.webhooks.loop = asyncio.get_running_loop()
            # An event a request raised is posted once that request's transaction has ended: posted into this
            # process earlier, it would queue behind the request's SQLite write lock.
            sandbox.webhooks.defer = after_request_transaction

        return install

    async def _close(self) -> None:
        if self.gateway.sandbox is not None:
            await self.gateway.sandbox.webhooks.drain()
            self.gateway.sandbox.webhooks.loop = None
            self.gateway.sandbox.close()
        await self.gateway.close()
