"""A short booking burst against two server processes: 20 concurrent clients for 10 seconds on PostgreSQL
(a tiny one, 8 clients for 4 seconds, on SQLite). The answers and then the database must show no double
booking, no orphan row, nothing left by a 409.

These go through a real server on purpose: Litestar's in-process test client serves one request at a time
(its async transport calls the blocking one), so `asyncio.gather` over it never makes two bookings overlap.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import httpx
import pytest

from bench.burst import (
    BOOKINGS,
    ZONE,
    BurstConfig,
    Fleet,
    build_plan,
    check_database,
    check_responses,
    race_outcomes,
    seed,
    serving,
    summarise,
    table,
    throwaway_database,
)
from bench.burst import _booking as booking

pytestmark = pytest.mark.load

SHORT = BurstConfig(requests=1000, seconds=10.0, clients=20, processes=2, workers=2, seed=11)
# SQLite takes one writer at a time (BEGIN IMMEDIATE across processes): a tiny burst proves the lock holds.
TINY_SQLITE = BurstConfig(requests=300, seconds=4.0, clients=8, processes=1, workers=2, seed=11)


def test_short_burst_leaves_no_double_booking_and_no_orphan(database_url: str, tmp_path: Path) -> None:
    config = TINY_SQLITE if database_url.startswith("sqlite") else SHORT
    with throwaway_database(database_url) as url:
        catalogue = seed(url)
        plan = build_plan(catalogue, config.requests, seed=config.seed)
        with serving(url, workers=config.workers, log_path=tmp_path / "server.log") as server:
            fleet = Fleet(
                server.base_url, plan, clients=config.clients, processes=config.processes, seconds=config.seconds
            )
            records = fleet.start().collect()
            log = server.log_tail()
        checks = check_responses(plan, records) + check_database(url, [plan], records)
    report = table(summarise(records), checks)
    assert all(c.passed for c in checks), f"{report}\n\nserver log (tail):\n{log}"
    outcomes = race_outcomes(plan, records).values()
    assert len(records) >= 40, f"too little happened to prove anything:\n{report}"
    assert any(o["complete"] and o["kind"] == "race_same" for o in outcomes), f"no race was run:\n{report}"


def test_two_clients_booking_two_therapists_at_one_time_both_get_a_room(database_url: str, tmp_path: Path) -> None:
    """Two rooms, two therapists, one start, two clients at once: both requests read both rooms free and pick
    the first; PostgreSQL refuses the second write, and that booking must look again and take the other room
    rather than turn the client away with 409 (found by the burst: every such pair lost one booking)."""
    with throwaway_database(database_url) as url:
        catalogue = seed(url)
        day = dt.datetime.now(ZONE).date() + dt.timedelta(days=7)
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        starts = [dt.datetime.combine(day, dt.time(9), ZONE) + dt.timedelta(minutes=30 * n) for n in range(16)]
        with serving(url, workers=1, log_path=tmp_path / "server.log") as server:

            async def pairs() -> list[httpx.Response]:
                async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                    answers: list[httpx.Response] = []
                    for n, start in enumerate(starts):
                        answers += await asyncio.gather(
                            *[
                                client.post(
                                    BOOKINGS, json=booking(catalogue.short, therapist, start, f"p{n}-{k}@x.test")
                                )
                                for k, therapist in enumerate(catalogue.therapists[:2])
                            ]
                        )
                    return answers

            answers = asyncio.run(pairs())
            log = server.log_tail()
    refused = [f"{r.status_code} {r.text}" for r in answers if r.status_code != 201]
    assert not refused, f"{len(refused)} of {len(answers)} refused: {refused[:3]}\n\nserver log (tail):\n{log}"
