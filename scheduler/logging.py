"""Structured request logging: one JSON line per request, with the route template instead of the raw path.

Logging the template (`/feeds/{token}.ics`) rather than the path keeps tokens, manage links and ids
that identify clients out of the logs; headers, bodies and query strings are never logged.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from scheduler.errors import CarebookError

logger = logging.getLogger("carebook.request")


def configure_logging(debug: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("carebook")
    if not root.handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.propagate = False
    # WeasyPrint logs every layout step of every PDF at INFO ("Step 6 - Creating PDF"): noise, not events.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


def _route_template(scope: Scope) -> str:
    handler = scope.get("route_handler")
    path_template = scope.get("path_template")
    if isinstance(path_template, str):
        return path_template
    if handler is not None and getattr(handler, "paths", None):
        return str(sorted(handler.paths)[0])
    return "<unmatched>"


def request_logging_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        except Exception as exc:
            # Raised before the route's own error handling (the CSRF check reading a malformed form, say): the
            # app-level handler outside this middleware answers it, with the error's status, not always 500.
            if isinstance(exc, HTTPException):
                status["code"] = exc.status_code
            elif isinstance(exc, CarebookError):
                status["code"] = exc.status
            raise
        finally:
            logger.info(
                json.dumps(
                    {
                        "event": "request",
                        "method": scope.get("method"),
                        "route": _route_template(scope),
                        "status": status["code"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    }
                )
            )

    return middleware
