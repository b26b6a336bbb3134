"""The process's payment gateway, set once by the composition root (`billing.wiring.install`).

Booking hooks (no-show fee, online deposit) run inside scheduler services that know nothing of billing,
so they cannot be handed the gateway as an argument; they read it here. Tests install a gateway with
fault injection the same way.
"""

from __future__ import annotations

from billing.gateway import PaymentGateway

_current: dict[str, PaymentGateway] = {}


def set_gateway(gateway: PaymentGateway) -> None:
    _current["gateway"] = gateway


def get_gateway() -> PaymentGateway:
    try:
        return _current["gateway"]
    except KeyError:
        msg = "no payment gateway installed (billing.wiring.install was not called)"
        raise RuntimeError(msg) from None


def base_url_or(default: str) -> str:
    return _current_base.get("url", default)


_current_base: dict[str, str] = {}


def set_base_url(url: str) -> None:
    _current_base["url"] = url.rstrip("/")
