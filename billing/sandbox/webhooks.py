"""The sandbox's webhook sender: signs events the way Stripe does and posts them to the app's webhook route.

Stripe signs `"{t}.{raw body}"` with HMAC-SHA256 under the endpoint secret and sends
`Stripe-Signature: t=<unix>,v1=<hex>`. Delivery is asynchronous, as with Stripe: in `auto` mode each event is
posted from a background task; `drain()` waits for those. An event raised by a request of the app the sandbox
delivers into is posted only once that request's transaction has ended (`defer`, installed by
`billing.plugin`): started earlier, the delivery would queue behind the request's database lock, or read what
the request had not committed yet. An event raised elsewhere (CLI, a test calling the gateway) is posted at
once. Tests steer delivery to reproduce what Stripe does to an endpoint:
`hold()` then `release(reverse=True, times=10)` (late, out of order, repeated), `drop_next(n)` (failed
deliveries that `events.list(delivery_success=false)` then reports), `redeliver(event_id, times)`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

logger = logging.getLogger("carebook.sandbox.webhooks")

# Posts one signed body and returns the HTTP status the endpoint answered (or raises on a network failure).
Poster = Callable[[str, bytes, dict[str, str]], Awaitable[int]]
# Takes a delivery to start later and returns True, or returns False when it need not wait (start it now).
Deferrer = Callable[[Callable[[], None]], bool]
DeliveryMode = Literal["auto", "hold", "off"]


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header for `payload`."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


async def post_with_httpx(url: str, body: bytes, headers: dict[str, str]) -> int:
    """Deliver over the network (the default when no in-process poster is installed)."""
    import httpx

    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url, content=body, headers=headers)
        return response.status_code


@dataclass
class Attempt:
    event_id: str
    status: int | None  # None: the request never got an answer
    error: str | None = None


@dataclass
class WebhookSender:
    url: str
    secret: str
    payload_of: Callable[[str], bytes]
    mark_delivered: Callable[[str], None]
    poster: Poster = post_with_httpx
    mode: DeliveryMode = "auto"
    attempts: list[Attempt] = field(default_factory=list)
    # The loop deliveries run on: the application's own (set at app start-up), so that a test driving the app
    # from another loop, or a thread, still has the app handle its webhooks on the app's loop and connections.
    loop: asyncio.AbstractEventLoop | None = None
    # Holds back a delivery until the request that raised the event has ended its transaction (see module doc).
    defer: Deferrer | None = None
    _held: list[str] = field(default_factory=list)
    _pending: set[concurrent.futures.Future[int | None]] = field(default_factory=set)
    _drop: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---------------------------------------------------------------------------------------- steering

    def hold(self) -> None:
        """Keep new events back until `release()` (to deliver them late, reordered or repeated)."""
        self.mode = "hold"

    def drop_next(self, count: int = 1) -> None:
        """The next `count` deliveries fail as if the endpoint were unreachable."""
        with self._lock:
            self._drop += count

    @property
    def held(self) -> list[str]:
        return list(self._held)

    async def release(self, *, reverse: bool = False, times: int = 1, resume: bool = True) -> None:
        """Deliver the held events (in creation order or reversed), each `times` times; then go back to auto."""
        with self._lock:
            events, self._held = list(self._held), []
        if reverse:
            events.reverse()
        if resume:
            self.mode = "auto"
        for event_id in events:
            for _ in range(times):
                await self.deliver(event_id)

    async def redeliver(self, event_id: str, *, times: int = 1) -> list[int | None]:
        return [await self.deliver(event_id) for _ in range(times)]

    async def drain(self) -> None:
        """Wait until every background delivery has finished."""
        while True:
            with self._lock:
                pending = [future for future in self._pending if not future.done()]
                self._pending = set(pending)
            if not pending:
                return
            await asyncio.gather(*(asyncio.wrap_future(future) for future in pending), return_exceptions=True)

    # ---------------------------------------------------------------------------------------- delivery

    def event_created(self, event_id: str) -> None:
        if self.mode == "off":
            return
        if self.mode == "hold":
            with self._lock:
                self._held.append(event_id)
            return
        if self.defer is not None and self.defer(lambda: self._start(event_id)):
            return
        self._start(event_id)

    def _start(self, event_id: str) -> None:
        loop = self._target_loop()
        if loop is None:  # no loop to send from (sync SDK use outside the app): keep it for release()
            with self._lock:
                self._held.append(event_id)
            return
        future = asyncio.run_coroutine_threadsafe(self._post_later(event_id), loop)
        with self._lock:
            self._pending.add(future)

    def _target_loop(self) -> asyncio.AbstractEventLoop | None:
        if self.loop is not None and not self.loop.is_closed():
            return self.loop
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    async def _post_later(self, event_id: str) -> int | None:
        await asyncio.sleep(0)  # let the request that created the event finish first, as over a network
        return await self._post(event_id)

    async def deliver(self, event_id: str) -> int | None:
        """Sign and post one event now; returns the endpoint's HTTP status (None when it failed to answer)."""
        loop = self._target_loop()
        current = asyncio.get_running_loop()
        if loop is None or loop is current:
            return await self._post(event_id)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._post(event_id), loop))

    async def _post(self, event_id: str) -> int | None:
        with self._lock:
            dropped = self._drop > 0
            if dropped:
                self._drop -= 1
        if dropped:
            self.attempts.append(Attempt(event_id, None, "dropped by the sandbox"))
            return None
        # The payload and the delivered flag live in the sandbox's database: read and write them off the loop.
        body = await asyncio.to_thread(self.payload_of, event_id)
        headers = {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": sign(body, self.secret)}
        try:
            status = await self.poster(self.url, body, headers)
        except Exception as exc:  # a delivery failure is a fact to record, like Stripe's dashboard does
            logger.warning("sandbox webhook %s not delivered: %s", event_id, type(exc).__name__)
            self.attempts.append(Attempt(event_id, None, type(exc).__name__))
            return None
        self.attempts.append(Attempt(event_id, status))
        if 200 <= status < 300:
            await asyncio.to_thread(self.mark_delivered, event_id)
        return status
