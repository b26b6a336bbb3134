"""What tests inject between the app and the sandbox: timeouts before or after Stripe applied a request, 500s
and 429s, and the record of what was asked. Per process, on purpose: a test steers the process it drives."""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass


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
