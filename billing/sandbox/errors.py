"""Stripe's error answers and parameter reading, as the sandbox produces and applies them."""

from __future__ import annotations

from typing import Any


class StripeApiError(Exception):
    """An error answer in Stripe's shape: `{"error": {...}}` with an HTTP status."""

    def __init__(self, status: int, error: dict[str, Any], *, validation: bool = False) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error
        # Refused while reading the parameters, before the endpoint began executing: Stripe stores no result
        # for its idempotency key (any other error is stored and replayed like a success).
        self.validation = validation

    def body(self) -> dict[str, Any]:
        return {"error": self.error}


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400, validation: bool = False
) -> StripeApiError:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if param:
        error["param"] = param
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    return StripeApiError(status, error, validation=validation)


def invalid_param(message: str, *, param: str | None = None, code: str | None = None) -> StripeApiError:
    """A parameter refused before the endpoint ran (missing, malformed): nothing is stored under the key."""
    return invalid_request(message, param=param, code=code, validation=True)


def missing(kind: str, object_id: str, param: str = "id") -> StripeApiError:
    return invalid_request(f"No such {kind}: '{object_id}'", param=param, code="resource_missing", status=404)


def to_int(params: dict[str, Any], name: str, *, required: bool = True, minimum: int = 0) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise invalid_param(f"Missing required param: {name}.", param=name, code="parameter_missing")
        return None
    try:
        value = int(str(raw))
    except ValueError:
        raise invalid_param(f"Invalid integer: {raw}", param=name, code="parameter_invalid_integer") from None
    if value < minimum:
        raise invalid_param(f"This value must be greater than or equal to {minimum}.", param=name)
    return value


def to_bool(value: Any) -> bool:
    return str(value).lower() == "true"


def metadata_of(params: dict[str, Any], name: str = "metadata") -> dict[str, str]:
    raw = params.get(name) or {}
    if not isinstance(raw, dict):
        raise invalid_param("Invalid object", param=name)
    return {str(key): str(value) for key, value in raw.items() if value != ""}
