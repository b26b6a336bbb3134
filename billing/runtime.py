"""The process's payment gateway, chosen by the composition root (`billing.wiring.install`).

Booking hooks (no-show fee, online deposit) run inside scheduler services that know nothing of billing,
so they cannot be handed the gateway as an argument; they read it here. It is built on first use (an
app that takes no payment never builds one); tests install a gateway with fault injection instead. The
deployment's secret key, which signs the deposit links those hooks hand out, and its public address are kept
here for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable

from billing.gateway import PaymentGateway

_state: dict[str, object] = {}


def set_gateway_factory(factory: Callable[[], PaymentGateway]) -> None:
    _state["factory"] = factory
    _state.pop("gateway", None)


def set_gateway(gateway: PaymentGateway) -> None:
    _state["gateway"] = gateway


def set_link_secret(secret: str) -> None:
    _state["link_secret"] = secret


def link_secret() -> str:
    """The key deposit links are signed with: the app's `secret_key` (from the environment when no app set it)."""
    secret = _state.get("link_secret")
    if secret is None:
        from scheduler.settings import get_settings

        secret = get_settings().secret_key
    return str(secret)


def set_base_url(url: str) -> None:
    _state["base_url"] = url.rstrip("/")


def base_url() -> str:
    """Where the app is served, for links in e-mails written outside a request (the app's, else the environment's)."""
    url = _state.get("base_url")
    if url is None:
        from scheduler.settings import get_settings

        url = get_settings().base_url
    return str(url).rstrip("/")


def get_gateway() -> PaymentGateway:
    gateway = _state.get("gateway")
    if gateway is None:
        factory = _state.get("factory")
        if factory is None:
            msg = "no payment gateway installed (billing.wiring.install was not called)"
            raise RuntimeError(msg)
        gateway = factory()  # type: ignore[operator]
        _state["gateway"] = gateway
    return gateway  # type: ignore[return-value]
