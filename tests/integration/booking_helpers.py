"""Helpers for booking tests: the demo's ids and dates that are always bookable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from scheduler.booking import services as booking_services

NEW_YORK = ZoneInfo("America/New_York")
Client = AsyncTestClient[Litestar]


@dataclass
class Demo:
    therapists: list[dict[str, Any]]
    services: dict[str, dict[str, Any]]  # by duration label: "60", "90", "30", "chair"

    @property
    def massage(self) -> str:
        return str(self.services["60"]["id"])

    @property
    def therapist(self) -> str:
        return str(self.therapists[0]["id"])


async def load_demo(client: Client) -> Demo:
    therapists = (await client.get("/api/v1/practices/demo/therapists")).json()["items"]
    services = (await client.get("/api/v1/practices/demo/services")).json()["items"]
    by_label: dict[str, dict[str, Any]] = {}
    for service in services:
        label = "chair" if not service["fsa_eligible"] else str(service["duration_minutes"])
        by_label[label] = service
    return Demo(therapists=therapists, services=by_label)


def weekday_ahead(days: int = 7, weekday: int = 1) -> dt.date:
    """A local date at least `days` ahead that falls on `weekday` (0 = Monday): inside notice and horizon."""
    day = dt.datetime.now(NEW_YORK).date() + dt.timedelta(days=days)
    while day.weekday() != weekday:
        day += dt.timedelta(days=1)
    return day


def at(day: dt.date, hour: int, minute: int = 0, zone: ZoneInfo = NEW_YORK) -> str:
    return dt.datetime.combine(day, dt.time(hour, minute), zone).isoformat()


def booking(service_id: str, therapist_id: str | None, start: str, email: str = "ann@example.test") -> dict[str, Any]:
    return {
        "service_id": service_id,
        "therapist_id": therapist_id,
        "start": start,
        "client": {"first_name": "Ann", "last_name": "Lee", "email": email, "phone": "+1 212 555 0100"},
    }


@contextmanager
def booking_clock(moment: dt.datetime | str) -> Iterator[None]:
    """The booking service's clock set to `moment`: a visit booked ahead can be completed as once it happened
    (completing or no-showing a visit before it starts is refused)."""
    instant = dt.datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(booking_services, "utcnow", lambda: instant)
        yield
