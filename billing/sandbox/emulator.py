"""`StripeSandbox`: the offline Stripe. It answers the v1 HTTP requests the real SDK sends (through the custom
`HTTPClient` in `billing.stripe_gateway`) from in-memory state, with Stripe's idempotency rules, error shapes
and webhooks, and lets tests inject the faults a network and Stripe produce.

Idempotency as Stripe documents it: a POST's `Idempotency-Key` stores the first result that reached the API
(successes and card errors alike) and replays it for the same endpoint and parameters, marked
`Idempotent-Replayed: true`; the same key with other parameters is a 400 `idempotency_error`. Requests refused
before they executed (validation errors, injected 500/429, a timeout before arrival) store nothing.

One instance per application process; all state sits behind one lock, so threads and tasks may share it.
"""

from __future__ import annotations

import copy
import enum
import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from billing.sandbox import checkout, refunds
from billing.sandbox.errors import StripeApiError, invalid_request, missing, to_int
from billing.sandbox.forms import decode_form, fingerprint
from billing.sandbox.state import API_VERSION, SandboxState
from billing.sandbox.webhooks import WebhookSender

# Public by design: the sandbox signs with it when no CAREBOOK_STRIPE_WEBHOOK_SECRET is set.
DEFAULT_WEBHOOK_SECRET = "whsec_sandbox_carebook_offline_stripe"  # noqa: S105
SANDBOX_API_KEY = "sk_test_sandbox_carebook"
SANDBOX_API_BASE = "https://sandbox.stripe.invalid"


class Fault(enum.Enum):
    TIMEOUT_BEFORE = "timeout_before"  # the request never reached Stripe
    TIMEOUT_AFTER = "timeout_after"  # Stripe applied it, the response was lost on the way back
    SERVER_ERROR = "server_error"  # 500 before anything happened
    RATE_LIMIT = "rate_limit"  # 429


class SandboxTimeout(Exception):
    """The transport must report a network failure (the SDK's APIConnectionError, which it retries)."""

    def __init__(self, applied: bool) -> None:
        super().__init__("sandbox: request timed out" + (" after it was applied" if applied else ""))
        self.applied = applied


@dataclass
class _Planned:
    fault: Fault
    remaining: int
    method: str | None
    path: str | None


class FaultPlan:
    """Faults to inject into the next matching requests, in the order they were planned."""

    def __init__(self) -> None:
        self._planned: list[_Planned] = []
        self._lock = threading.Lock()

    def inject(self, fault: Fault | str, times: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """Make the next `times` requests (optionally only `method` and paths containing `path`) fail."""
        with self._lock:
            self._planned.append(_Planned(Fault(fault), times, method.upper() if method else None, path))

    def clear(self) -> None:
        with self._lock:
            self._planned.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for planned in self._planned:
                if (planned.method in (None, method)) and (planned.path is None or planned.path in path):
                    planned.remaining -= 1
                    if planned.remaining <= 0:
                        self._planned.remove(planned)
                    return planned.fault
        return None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    idempotency_key: str | None
    status: int | None
    replayed: bool = False
    fault: Fault | None = None


@dataclass(frozen=True)
class _Stored:
    fingerprint: str
    status: int
    body: bytes


_EXPANDABLE_PREFIXES = ("pi_", "pm_", "seti_", "cus_", "ch_", "re_", "cs_", "dp_", "evt_")


class StripeSandbox:
    """The emulated Stripe account. `handle()` is the HTTP entry point; the rest serves pages and tests."""

    def __init__(
        self,
        *,
        base_url: str = "http://127.0.0.1:8000",
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        webhook_path: str = "/webhooks/stripe",
    ) -> None:
        self._lock = threading.RLock()
        self.state = SandboxState(base_url=base_url, on_event=self._event_created)
        self.webhooks = WebhookSender(
            url=base_url.rstrip("/") + webhook_path,
            secret=webhook_secret,
            payload_of=self._payload_of,
            mark_delivered=self._mark_delivered,
        )
        self.faults = FaultPlan()
        self.requests: list[RecordedRequest] = []
        self._idempotency: dict[str, _Stored] = {}

    # ------------------------------------------------------------------------------------------ HTTP

    def handle(
        self, method: str, url: str, headers: dict[str, str], body: str | bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one API request as Stripe would. Raises `SandboxTimeout` for an injected timeout."""
        method = method.upper()
        parts = urlsplit(url)
        path = parts.path
        lowered = {name.lower(): value for name, value in headers.items()}
        key = lowered.get("idempotency-key") if method == "POST" else None
        fault = self.faults.take(method, path)
        if fault is Fault.TIMEOUT_BEFORE:
            self.requests.append(RecordedRequest(method, path, key, None, fault=fault))
            raise SandboxTimeout(applied=False)
        if fault is Fault.SERVER_ERROR:
            error = {"type": "api_error", "message": "An unknown error occurred (sandbox: injected 500)."}
            return self._answer(method, path, key, 500, {"error": error}, fault=fault)
        if fault is Fault.RATE_LIMIT:
            error = {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests (sandbox)."}
            return self._answer(method, path, key, 429, {"error": error}, fault=fault)
        text = body.decode() if isinstance(body, bytes) else (body or "")
        params = decode_form(text if method == "POST" else parts.query)
        with self._lock:
            answer = self._handle_locked(method, path, key, lowered, params, fault)
        if fault is Fault.TIMEOUT_AFTER:
            raise SandboxTimeout(applied=True)
        return answer

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
    ) -> tuple[int, dict[str, str], bytes]:
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
        self.requests.append(RecordedRequest(method, path, key, status, replayed, fault))
        return status, headers, payload

    def _handle_locked(
        self,
        method: str,
        path: str,
        key: str | None,
        headers: dict[str, str],
        params: dict[str, Any],
        fault: Fault | None,
    ) -> tuple[int, dict[str, str], bytes]:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            error = {"type": "invalid_request_error", "message": "You did not provide an API key."}
            return self._answer(method, path, key, 401, {"error": error}, fault=fault)
        signature = fingerprint(method, path, params)
        if key is not None:
            stored = self._idempotency.get(key)
            if stored is not None:
                if stored.fingerprint != signature:
                    error = {
                        "type": "idempotency_error",
                        "message": (
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            f"first used with. Try using a key other than '{key}' if you meant to execute a "
                            "different request."
                        ),
                    }
                    return self._answer(method, path, key, 400, {"error": error}, fault=fault)
                return self._answer(method, path, key, stored.status, stored.body, replayed=True, fault=fault)
        try:
            result = self._route(method, path, params)
            status, body = 200, self._expand(copy.deepcopy(result), params.get("expand"))
        except StripeApiError as exc:
            status, body = exc.status, exc.body()
        payload = json.dumps(body, indent=2).encode()
        if key is not None and status in {200, 402}:
            self._idempotency[key] = _Stored(signature, status, payload)
        return self._answer(method, path, key, status, payload, fault=fault)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0911, PLR0912
        state = self.state
        segments = [part for part in path.split("/") if part][1:] if path.startswith("/v1/") else []
        match method, segments:
            case "POST", ["customers"]:
                return state.create_customer(params)
            case "GET", ["customers", customer_id]:
                return state.get(customer_id, "customer")
            case "GET", ["customers", customer_id, "payment_methods"]:
                state.get(customer_id, "customer")
                return self._list(path, self._cards_of(customer_id), params)
            case "GET", ["payment_methods"]:
                if not params.get("customer"):
                    raise invalid_request("Missing required param: customer.", param="customer")
                return self._list(path, self._cards_of(str(params["customer"])), params)
            case "GET", ["payment_methods", pm_id]:
                return state.get(pm_id, "payment_method")
            case "POST", ["payment_methods", pm_id, "attach"]:
                if not params.get("customer"):
                    raise invalid_request(
                        "Missing required param: customer.", param="customer", code="parameter_missing"
                    )
                return state.attach(pm_id, str(params["customer"]))
            case "POST", ["setup_intents"]:
                return state.create_setup_intent(params)
            case "GET", ["setup_intents", seti_id]:
                return state.get(seti_id, "setup_intent")
            case "POST", ["payment_intents"]:
                return state.create_payment_intent(params)
            case "GET", ["payment_intents", pi_id]:
                return state.get(pi_id, "payment_intent")
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
                return self._list(path, self._events(params), params)
            case "GET", ["events", event_id]:
                return state.get(event_id, "event")
            case "GET", ["disputes", dispute_id]:
                return state.get(dispute_id, "dispute")
        raise invalid_request(f"Unrecognized request URL ({method}: {path}).", status=404)

    def _cards_of(self, customer_id: str) -> list[dict[str, Any]]:
        cards = [pm for pm in self.state.of_kind("payment_method") if pm["customer"] == customer_id]
        return sorted(cards, key=lambda pm: pm["created"], reverse=True)

    def _events(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        events = [self.state.objects[event_id] for event_id in reversed(self.state.events)]
        if params.get("type"):
            events = [event for event in events if event["type"] == params["type"]]
        if "delivery_success" in params:
            wanted = str(params["delivery_success"]).lower() == "true"
            events = [event for event in events if (event["id"] in self.state.delivered) == wanted]
        return events

    def _list(self, path: str, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        limit = to_int(params, "limit", required=False, minimum=1) or 10
        limit = min(limit, 100)
        after = params.get("starting_after")
        if after:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise missing("object", str(after), "starting_after")
            items = items[ids.index(after) + 1 :]
        return {"object": "list", "url": path, "has_more": len(items) > limit, "data": items[:limit]}

    def _expand(self, body: dict[str, Any], expand: Any) -> dict[str, Any]:
        for dotted in expand if isinstance(expand, list) else []:
            self._expand_path(body, str(dotted).split("."))
        return body

    def _expand_path(self, node: Any, path: list[str]) -> None:
        if not path or not isinstance(node, dict):
            return
        if path[0] == "data" and isinstance(node.get("data"), list):
            for item in node["data"]:
                self._expand_path(item, path[1:])
            return
        value = node.get(path[0])
        if isinstance(value, str) and value.startswith(_EXPANDABLE_PREFIXES) and value in self.state.objects:
            node[path[0]] = value = copy.deepcopy(self.state.objects[value])
        self._expand_path(value, path[1:])

    # -------------------------------------------------------------------------------------- webhooks

    def _event_created(self, event_id: str) -> None:
        self.webhooks.event_created(event_id)

    def _payload_of(self, event_id: str) -> bytes:
        with self._lock:
            return self.state.event_payloads[event_id]

    def _mark_delivered(self, event_id: str) -> None:
        with self._lock:
            self.state.mark_delivered(event_id)

    # ----------------------------------------------------------------------- the hosted page and tests

    def checkout_session(self, session_id: str) -> dict[str, Any] | None:
        with self._lock:
            session = self.state.objects.get(session_id)
            if session is None or session["object"] != "checkout.session":
                return None
            checkout.refresh_expiry(self.state, session)
            return {**copy.deepcopy(session), "description": self.state.checkout_extras[session_id]["description"]}

    def complete_checkout(self, session_id: str, card: str, *, authenticated: bool = False) -> dict[str, Any]:
        """Pay (or save a card) on the hosted page. Raises `StripeApiError` on a decline and
        `CheckoutNeedsAuthentication` when the card first wants the cardholder to confirm (3-D Secure)."""
        with self._lock:
            return copy.deepcopy(checkout.complete_session(self.state, session_id, card, authenticated=authenticated))

    def create_test_checkout(self, amount: int, currency: str = "usd", *, save_card: bool = False) -> dict[str, Any]:
        """A Checkout Session made from the dashboard (no app involved), returning to the dashboard when done."""
        params: dict[str, Any] = {
            "mode": "payment",
            "success_url": f"{self.state.base_url}/sandbox/?paid={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{self.state.base_url}/sandbox/",
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
        with self._lock:
            return copy.deepcopy(checkout.create_session(self.state, params))

    def expire_checkout(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(checkout.expire_session(self.state, session_id))

    def open_dispute(self, payment_intent_id: str, reason: str = "fraudulent") -> dict[str, Any]:
        """The cardholder disputes a payment: emits `charge.dispute.created`."""
        with self._lock:
            return copy.deepcopy(refunds.create_dispute(self.state, payment_intent_id, reason))

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Copies of every object of a kind (`payment_intent`, `charge`, `refund`, ...), oldest first."""
        with self._lock:
            return copy.deepcopy(self.state.of_kind(kind))

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            found = [self.state.objects[event_id] for event_id in self.state.events]
            return copy.deepcopy([event for event in found if event_type in (None, event["type"])])
