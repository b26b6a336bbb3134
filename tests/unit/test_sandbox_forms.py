"""The sandbox reads Stripe's form encoding back exactly as the SDK writes it."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from billing.sandbox.forms import decode_form, fingerprint


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("amount=1200&currency=usd", {"amount": "1200", "currency": "usd"}),
        ("metadata[invoice_id]=inv_1&metadata[kind]=deposit", {"metadata": {"invoice_id": "inv_1", "kind": "deposit"}}),
        (
            "payment_intent_data[setup_future_usage]=off_session",
            {"payment_intent_data": {"setup_future_usage": "off_session"}},
        ),
        ("expand[0]=payment_method&expand[1]=latest_charge", {"expand": ["payment_method", "latest_charge"]}),
        ("expand[]=a&expand[]=b", {"expand": ["a", "b"]}),
        (
            "line_items[0][price_data][unit_amount]=3000&line_items[0][quantity]=1"
            "&line_items[1][price_data][unit_amount]=500",
            {
                "line_items": [
                    {"price_data": {"unit_amount": "3000"}, "quantity": "1"},
                    {"price_data": {"unit_amount": "500"}},
                ]
            },
        ),
        ("off_session=true&description=", {"off_session": "true", "description": ""}),
        ("", {}),
    ],
)
def test_bracketed_keys_become_nested_values(encoded: str, decoded: dict[str, object]) -> None:
    assert decode_form(encoded) == decoded


def test_percent_encoded_values_and_brackets_decode() -> None:
    encoded = urlencode([("metadata[note]", "a&b=c"), ("email", "ada+1@example.test")])
    assert decode_form(encoded) == {"metadata": {"note": "a&b=c"}, "email": "ada+1@example.test"}


def test_the_idempotency_fingerprint_ignores_parameter_order_but_not_values() -> None:
    one = fingerprint("post", "/v1/refunds", decode_form("amount=100&payment_intent=pi_1"))
    same = fingerprint("POST", "/v1/refunds", decode_form("payment_intent=pi_1&amount=100"))
    other = fingerprint("POST", "/v1/refunds", decode_form("payment_intent=pi_1&amount=101"))
    elsewhere = fingerprint("POST", "/v1/payment_intents", decode_form("amount=100&payment_intent=pi_1"))
    assert one == same
    assert len({one, other, elsewhere}) == 3
