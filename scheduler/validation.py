"""Small parsers shared by controllers: they turn raw path and query values into typed ones or a 4xx."""

from __future__ import annotations

import uuid

from scheduler.errors import InvalidInput, NotFound


def parse_uuid(raw: str, field: str) -> uuid.UUID:
    """An id from a URL. A malformed id names nothing that exists, so it reads as 404 like any unknown id."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("No such object.", field=field) from None


def parse_uuid_field(raw: str, field: str) -> uuid.UUID:
    """An id in a request body or query: malformed is bad input (400) naming the field."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidInput("This is not a valid id.", field=field) from None
