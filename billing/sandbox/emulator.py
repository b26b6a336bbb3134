"""`StripeSandbox`: the offline Stripe. It answers the v1 HTTP requests the real SDK sends (through the custom
`HTTPClient` in `billing.stripe_gateway`) from its store (`store.py`: database tables every app process shares),
with Stripe's idempotency rules, error shapes and webhooks, and lets tests inject the faults a network and Stripe
produce.

Idempotency as Stripe documents it: a POST's `Idempotency-Key` stores the result of any request that started
executing (successes, card errors and other errors alike — a cancel refused for the intent's state too) and
replays it for the same endpoint and parameters, marked `Idempotent-Replayed: true`; the same key with other
parameters is a 400 `idempotency_error`. Requests refused before they executed (parameter validation, an
unknown URL, a missing API key, injected 500/429, a timeout before arrival) store nothing. Keys live 24 hours.

One instance per application process. Each request is one store transaction, serialised across processes
(`SandboxStore.transaction`); the webhooks its changes produce are handed to the sender after that commit, so a
delivery never reads an event another connection cannot see yet. Fault plans and the recorded requests are
this process's own (tests steer the process they drive).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from billing.sandbox import checkout, intents, refunds
from billing.sandbox.checkout import CheckoutNeedsAuthentication
from billing.sandbox.errors import StripeApiError, invalid_param, missing, to_int
from billing.sandbox.faults import Fault, FaultPlan, RecordedRequest, SandboxTimeout
from billing.sandbox.forms import decode_form, fingerprint
from billing.sandbox.state import API_VERSION, SandboxState
from billing.sandbox.store import SandboxStore
from billing.sandbox.webhooks import WebhookSender

T = TypeVar("T")
Answer = tuple[int, dict[str, str], bytes]

# Public by design: the sandbox signs with it when no CAREBOOK_STRIPE_WEBHOOK_SECRET is set.
DEFAULT_WEBHOOK_SECRET = "whsec_sandbox_carebook_offline_stripe"  # noqa: S105
SANDBOX_API_KEY = "sk_test_sandbox_carebook"
SANDBOX_API_BASE = "https://sandbox.stripe.invalid"


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    key: str | None
    headers: dict[str, str]
    params: dict[str, Any]
    fault: Fault | None


_EXPANDABLE_PREFIXES = ("pi_", "pm_", "seti_", "cus_", "ch_", "re_", "cs_", "dp_", "evt_")
# Raised by the rules and handed to the caller once the request's transaction has committed what it changed.
_ANSWERED = (StripeApiError, CheckoutNeedsAuthentication)


class StripeSandbox:
    """The emulated Stripe account. `handle()`/`handle_async()` are the HTTP entry points; the rest serves the
    hosted pages and tests. `store` defaults to an in-memory one (pure unit tests); the app passes the shared one
    (`billing.gateway_factory`)."""

    def __init__(
        self,
        *,
        base_url: str = "http://127.0.0.1:8000",
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        webhook_path: str = "/webhooks/stripe",
        store: SandboxStore | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.store = store or SandboxStore("sqlite://")
        self.webhooks = WebhookSender(
            url=self.base_url + webhook_path,
            secret=webhook_secret,
            payload_of=self._payload_of,
            mark_delivered=self._mark_delivered,
        )
        self.faults = FaultPlan()
        self.requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()

    def close(self) -> None:
        self.store.close()

    # --------------------------------------------------------------------------------- transactions

    def _run(self, work: Callable[[SandboxState], T]) -> tuple[T | None, BaseException | None, list[str]]:
        """Run `work` as one store transaction. A Stripe error it raises is an answer: what the request changed
        before it (a failed charge, a declined intent) is committed, as at Stripe, and the error comes back."""
        with self.store.transaction() as unit:
            state = SandboxState(base_url=self.base_url, store=unit)
            try:
                value: T | None = work(state)
                error: BaseException | None = None
            except _ANSWERED as exc:
                value, error = None, exc
        return value, error, state.emitted

    def _finish(self, outcome: tuple[T | None, BaseException | None, list[str]]) -> T:
        value, error, emitted = outcome
        for event_id in emitted:
            self.webhooks.event_created(event_id)
        if error is not None:
            raise error
        return cast(T, value)

    def _call(self, work: Callable[[SandboxState], T]) -> T:
        return self._finish(self._run(work))

    async def _call_async(self, work: Callable[[SandboxState], T]) -> T:
        # The store is reached with a sync driver: wait for it in a worker thread, never on the event loop.
        return self._finish(await asyncio.to_thread(self._run, work))

    # ------------------------------------------------------------------------------------------ HTTP

    def handle(self, method: str, url: str, headers: dict[str, str], body: str | bytes | None) -> Answer:
        """Answer one API request as Stripe would. Raises `SandboxTimeout` for an injected timeout."""
        request = self._receive(method, url, headers, body)
        if not isinstance(request, _Request):
            return request
        answer = self._call(functools.partial(self._respond, request))
        if request.fault is Fault.TIMEOUT_AFTER:
            raise SandboxTimeout(applied=True)
        return answer

    async def handle_async(self, method: str, url: str, headers: dict[str, str], body: str | bytes | None) -> Answer:
        """`handle()` for the SDK's async calls: the store transaction runs in a worker thread."""
        request = self._receive(method, url, headers, body)
        if not isinstance(request, _Request):
            return request
        answer = await self._call_async(functools.partial(self._respond, request))
        if request.fault is Fault.TIMEOUT_AFTER:
            raise SandboxTimeout(applied=True)
        return answer

    def _receive(self, method: str, url: str, headers: dict[str, str], body: str | bytes | None) -> _Request | Answer:
        """What happens before a request reaches the account: injected faults, decoding."""
        method = method.upper()
        parts = urlsplit(url)
        path = parts.path
        lowered = {name.lower(): value for name, value in headers.items()}
        key = lowered.get("idempotency-key") if method == "POST" else None
        fault = self.faults.take(method, path)
        if fault is Fault.TIMEOUT_BEFORE:
            self._record(RecordedRequest(method, path, key, None, fault=fault))
            raise SandboxTimeout(applied=False)
        if fault is Fault.SERVER_ERROR:
            error = {"type": "api_error", "message": "An unknown error occurred (sandbox: injected 500)."}
            return self._answer(method, path, key, 500, {"error": error}, fault=fault)
        if fault is Fault.RATE_LIMIT:
            error = {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests (sandbox)."}
            return self._answer(method, path, key, 429, {"error": error}, fault=fault)
        text = body.decode() if isinstance(body, bytes) else (body or "")
        params = decode_form(text if method == "POST" else parts.query)
        return _Request(method, path, key, lowered, params, fault)

    def _record(self, request: RecordedRequest) -> None:
        with self._requests_lock:
            self.requests.append(request)

    def _answer(
        self,
        method: str,
        path: str,
        key: str | None,
        status: int,
        body: dict[str, Any] | bytes,
        *,
        replayed: bool = False,
        fault: Fault | None = None,
    ) -> Answer:
        payload = body if isinstance(body, bytes) else json.dumps(body, indent=2).encode()
        headers = {
            "Content-Type": "application/json",
            "Request-Id": "req_" + secrets.token_hex(7),
            "Stripe-Version": API_VERSION,
        }
        if key:
            headers["Idempotency-Key"] = key
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        # With `timeout_after` the status is what Stripe did; the caller never saw it.
        self._record(RecordedRequest(method, path, key, status, replayed, fault))
        return status, headers, payload

    def _respond(self, request: _Request, state: SandboxState) -> Answer:
        method, path, key, fault = request.method, request.path, request.key, request.fault
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            error = {"type": "invalid_request_error", "message": "You did not provide an API key."}
            return self._answer(method, path, key, 401, {"error": error}, fault=fault)
        signature = fingerprint(method, path, request.params)
        now = state.now()
        if key is not None:
            stored = state.store.idempotent_result(key, now)
            if stored is not None:
                stored_fingerprint, stored_status, stored_body = stored
                if stored_fingerprint != signature:
                    error = {
                        "type": "idempotency_error",
                        "message": (
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            f"first used with. Try using a key other than '{key}' if you meant to execute a "
                            "different request."
                        ),
                    }
                    return self._answer(method, path, key, 400, {"error": error}, fault=fault)
                return self._answer(method, path, key, stored_status, stored_body, replayed=True, fault=fault)
        executed = True
        try:
            result = self._route(state, method, path, request.params)
            status, body = 200, self._expand(state, copy.deepcopy(result), request.params.get("expand"))
        except StripeApiError as exc:
            status, body, executed = exc.status, exc.body(), not exc.validation
        payload = json.dumps(body, indent=2).encode()
        if key is not None and executed:
            state.store.store_result(key, signature, status, payload, now)
        return self._answer(method, path, key, status, payload, fault=fault)

    def _route(  # noqa: PLR0911, PLR0912
        self, state: SandboxState, method: str, path: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        segments = [part for part in path.split("/") if part][1:] if path.startswith("/v1/") else []
        match method, segments:
            case "POST", ["customers"]:
                return state.create_customer(params)
            case "GET", ["customers", customer_id]:
                return state.get(customer_id, "customer")
            case "GET", ["customers", customer_id, "payment_methods"]:
                state.get(customer_id, "customer")
                return self._list(path, self._cards_of(state, customer_id), params)
            case "GET", ["payment_methods"]:
                if not params.get("customer"):
                    raise invalid_param("Missing required param: customer.", param="customer")
                return self._list(path, self._cards_of(state, str(params["customer"])), params)
            case "GET", ["payment_methods", pm_id]:
                return state.get(pm_id, "payment_method")
            case "POST", ["payment_methods", pm_id, "attach"]:
                if not params.get("customer"):
                    raise invalid_param("Missing required param: customer.", param="customer", code="parameter_missing")
                return state.attach(pm_id, str(params["customer"]))
            case "POST", ["setup_intents"]:
                return state.create_setup_intent(params)
            case "GET", ["setup_intents", seti_id]:
                return state.get(seti_id, "setup_intent")
            case "POST", ["payment_intents"]:
                return state.create_payment_intent(params)
            case "GET", ["payment_intents", pi_id]:
                return state.get(pi_id, "payment_intent")
            case "POST", ["payment_intents", pi_id]:
                return intents.update_payment_intent(state, pi_id, params)
            case "POST", ["payment_intents", pi_id, "confirm"]:
                return intents.confirm_payment_intent(state, pi_id, params)
            case "POST", ["payment_intents", pi_id, "cancel"]:
                return intents.cancel_payment_intent(state, pi_id, params)
            case "GET", ["charges", charge_id]:
                return state.get(charge_id, "charge")
            case "POST", ["refunds"]:
                return refunds.create_refund(state, params)
            case "GET", ["refunds", refund_id]:
                return state.get(refund_id, "refund")
            case "POST", ["checkout", "sessions"]:
                return checkout.create_session(state, params)
            case "GET", ["checkout", "sessions", session_id]:
                session = state.get(session_id, "checkout.session")
                checkout.refresh_expiry(state, session)
                return session
            case "POST", ["checkout", "sessions", session_id, "expire"]:
                return checkout.expire_session(state, session_id)
            case "GET", ["events"]:
                return self._list(path, self._events(state, params), params)
            case "GET", ["events", event_id]:
                return state.get(event_id, "event")
            case "GET", ["disputes", dispute_id]:
                return state.get(dispute_id, "dispute")
        raise StripeApiError(
            404,
            {"type": "invalid_request_error", "message": f"Unrecognized request URL ({method}: {path})."},
            validation=True,
        )

    @staticmethod
    def _cards_of(state: SandboxState, customer_id: str) -> list[dict[str, Any]]:
        cards = [pm for pm in state.of_kind("payment_method") if pm["customer"] == customer_id]
        return sorted(cards, key=lambda pm: pm["created"], reverse=True)

    @staticmethod
    def _events(state: SandboxState, params: dict[str, Any]) -> list[dict[str, Any]]:
        delivered = None
        if "delivery_success" in params:
            delivered = str(params["delivery_success"]).lower() == "true"
        event_type = str(params["type"]) if params.get("type") else None
        return list(reversed(state.store.events(event_type, delivered)))

    @staticmethod
    def _list(path: str, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        limit = to_int(params, "limit", required=False, minimum=1) or 10
        limit = min(limit, 100)
        after = params.get("starting_after")
        if after:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise missing("object", str(after), "starting_after")
            items = items[ids.index(after) + 1 :]
        return {"object": "list", "url": path, "has_more": len(items) > limit, "data": items[:limit]}

    def _expand(self, state: SandboxState, body: dict[str, Any], expand: Any) -> dict[str, Any]:
        for dotted in expand if isinstance(expand, list) else []:
            self._expand_path(state, body, str(dotted).split("."))
        return body

    def _expand_path(self, state: SandboxState, node: Any, path: list[str]) -> None:
        if not path or not isinstance(node, dict):
            return
        if path[0] == "data" and isinstance(node.get("data"), list):
            for item in node["data"]:
                self._expand_path(state, item, path[1:])
            return
        value = node.get(path[0])
        if isinstance(value, str) and value.startswith(_EXPANDABLE_PREFIXES):
            found = state.find(value)
            if found is not None:
                node[path[0]] = value = copy.deepcopy(found)
        self._expand_path(state, value, path[1:])

    # -------------------------------------------------------------------------------------- webhooks

    def _payload_of(self, event_id: str) -> bytes:
        payload = self._call(lambda state: state.store.payload(event_id))
        if payload is None:
            raise KeyError(event_id)
        return payload

    def _mark_delivered(self, event_id: str) -> None:
        self._call(lambda state: state.store.mark_delivered(event_id))

    def event_payload(self, event_id: str) -> bytes:
        """The exact bytes a delivery of this event signs and posts."""
        return self._payload_of(event_id)

    def delivered_event_ids(self) -> set[str]:
        return {event["id"] for event in self.events() if event["pending_webhooks"] == 0}

    # ----------------------------------------------------------------------- the hosted page and tests

    @staticmethod
    def _session_for_page(state: SandboxState, session_id: str) -> dict[str, Any] | None:
        session = state.find(session_id)
        if session is None or session["object"] != "checkout.session":
            return None
        checkout.refresh_expiry(state, session)
        return {**copy.deepcopy(session), "description": state.extras_of(session_id)["description"]}

    def checkout_session(self, session_id: str) -> dict[str, Any] | None:
        return self._call(lambda state: self._session_for_page(state, session_id))

    async def checkout_session_async(self, session_id: str) -> dict[str, Any] | None:
        return await self._call_async(lambda state: self._session_for_page(state, session_id))

    @staticmethod
    def _complete(session_id: str, card: str, authenticated: bool, state: SandboxState) -> dict[str, Any]:
        return copy.deepcopy(checkout.complete_session(state, session_id, card, authenticated=authenticated))

    def complete_checkout(self, session_id: str, card: str, *, authenticated: bool = False) -> dict[str, Any]:
        """Pay (or save a card) on the hosted page. Raises `StripeApiError` on a decline and
        `CheckoutNeedsAuthentication` when the card first wants the cardholder to confirm (3-D Secure)."""
        return self._call(functools.partial(self._complete, session_id, card, authenticated))

    async def complete_checkout_async(
        self, session_id: str, card: str, *, authenticated: bool = False
    ) -> dict[str, Any]:
        return await self._call_async(functools.partial(self._complete, session_id, card, authenticated))

    def _test_checkout_params(self, amount: int, currency: str, save_card: bool) -> dict[str, Any]:
        params: dict[str, Any] = {
            "mode": "payment",
            "success_url": f"{self.base_url}/sandbox/?paid={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{self.base_url}/sandbox/",
            "line_items": [
                {
                    "quantity": "1",
                    "price_data": {
                        "currency": currency,
                        "unit_amount": str(amount),
                        "product_data": {"name": "Sandbox test payment"},
                    },
                }
            ],
        }
        if save_card:
            params["payment_intent_data"] = {"setup_future_usage": "off_session"}
        return params

    def create_test_checkout(self, amount: int, currency: str = "usd", *, save_card: bool = False) -> dict[str, Any]:
        """A Checkout Session made from the dashboard (no app involved), returning to the dashboard when done."""
        params = self._test_checkout_params(amount, currency, save_card)
        return self._call(lambda state: copy.deepcopy(checkout.create_session(state, params)))

    async def create_test_checkout_async(self, amount: int, *, save_card: bool = False) -> dict[str, Any]:
        params = self._test_checkout_params(amount, "usd", save_card)
        return await self._call_async(lambda state: copy.deepcopy(checkout.create_session(state, params)))

    def expire_checkout(self, session_id: str) -> dict[str, Any]:
        return self._call(lambda state: copy.deepcopy(checkout.expire_session(state, session_id)))

    def open_dispute(self, payment_intent_id: str, reason: str = "fraudulent") -> dict[str, Any]:
        """The cardholder disputes a payment: emits `charge.dispute.created`."""
        return self._call(lambda state: copy.deepcopy(refunds.create_dispute(state, payment_intent_id, reason)))

    async def open_dispute_async(self, payment_intent_id: str, reason: str = "fraudulent") -> dict[str, Any]:
        return await self._call_async(
            lambda state: copy.deepcopy(refunds.create_dispute(state, payment_intent_id, reason))
        )

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Copies of every object of a kind (`payment_intent`, `charge`, `refund`, ...), oldest first."""
        return self._call(lambda state: copy.deepcopy(state.of_kind(kind)))

    async def objects_async(self, kind: str) -> list[dict[str, Any]]:
        return await self._call_async(lambda state: copy.deepcopy(state.of_kind(kind)))

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Events oldest first; `pending_webhooks` is 0 once a delivery succeeded."""
        return self._call(lambda state: state.store.events(event_type))

    async def events_async(self, event_type: str | None = None) -> list[dict[str, Any]]:
        return await self._call_async(lambda state: state.store.events(event_type))
