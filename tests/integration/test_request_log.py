"""The request log line carries the status the client got, also for errors raised before the route handles them
(found while fuzzing: `GET /health` with `Content-Type: multipart/form-data` and no boundary was answered 400 by
the CSRF check but logged as 500)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient


@pytest.fixture
def request_log() -> Iterator[list[dict[str, object]]]:
    lines: list[dict[str, object]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(record.getMessage()))

    handler = Collect()
    logger = logging.getLogger("carebook.request")
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


async def test_error_raised_before_the_route_is_logged_with_its_status(
    client: AsyncTestClient[Litestar], request_log: list[dict[str, object]]
) -> None:
    response = await client.get("/health", headers={"Content-Type": "multipart/form-data"})
    assert response.status_code == 400
    assert request_log[-1]["status"] == 400


async def test_refused_csrf_is_logged_as_403(
    client: AsyncTestClient[Litestar], request_log: list[dict[str, object]]
) -> None:
    response = await client.post("/login", data={"email": "a@b.test", "password": "x"})
    assert response.status_code == 403
    assert request_log[-1]["status"] == 403
