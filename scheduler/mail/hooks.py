"""Flushing the outbox from the web app: after a response, without a background worker of our own.

After a request whose transaction committed mail, this process sends it at once; otherwise it sweeps
at most once a minute (mail left by a failed attempt, another process, or the CLI). With no SMTP
configured, or nothing to do, the hook returns without touching the database.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar import Request

from scheduler.mail import services as mail

logger = logging.getLogger("carebook.mail")

SWEEP_EVERY_SECONDS = 60.0
_last_sweep = {"at": 0.0}


async def flush_outbox_after_response(request: Request[Any, Any, Any]) -> None:
    settings = request.app.state.settings
    if not settings.smtp_url:
        return
    committed = mail.take_committed_flag()
    now = time.monotonic()
    if not committed and now - _last_sweep["at"] < SWEEP_EVERY_SECONDS:
        return
    _last_sweep["at"] = now
    try:
        await mail.send_pending(request.app.state.alchemy, settings)
    except Exception:
        # Mail is retried on a later sweep; a failing mail server must never turn into a failed request.
        logger.exception("outbox: sending after the response failed")
