"""Small parsers shared by controllers: they turn raw path and query values into typed ones or a 4xx."""

from __future__ import annotations

import uuid

from scheduler.errors import NotFound


def parse_uuid(raw: str, field: str) -> uuid.UUID:
    """An id from a URL. A malformed id names nothing that exists, so it reads as 404 like any unknown id."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("No such object.", field=field) from None
