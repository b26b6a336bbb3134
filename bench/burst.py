"""`make burst`: a booking burst against the served app, then proof from the database that nothing broke.

One run: a throw-away PostgreSQL database, migrated and seeded with the demo practice (its horizon made
long), served by `carebook serve --workers N` on a free loopback port, driven by several client
processes (each an httpx AsyncClient shared by its concurrent clients) that pull one request at a time
from one shared, shuffled plan:

- `book_distinct`   every booking at a slot of its own (some pairs share a new client's e-mail): all 201;
- `race_same`       groups of clients booking one therapist at one start: exactly one 201 per group;
- `race_overlap`    groups booking one therapist at starts 15 minutes apart (60-minute visits);
- `race_any`        groups booking "any therapist" at one start (two rooms: one or two 201s per group);
- `race_any_overlap` groups booking "any therapist" at starts 15 minutes apart;
- `availability`    the public availability of a week (one therapist or all).

The members of a race group sit next to each other in the plan, so idle clients in every process take
them within milliseconds of each other. The run stops after `--requests` requests or `--seconds`,
whichever comes first. Then the database must show: no two live appointments of one therapist or one
room overlapping (a self-join on the blocks), no orphan rows, every 201's appointment present and live
at the time it was given, nothing left by a 409, and one client per e-mail that won a booking.

    .venv/bin/python -m bench.burst [--requests 2000 --seconds 60 --clients 32 --processes 4 --workers 2]

prints the table, writes bench/results/burst.json and exits 1 on any violation. The helpers are reused
by tests/load/ (a short burst in `make test`, and the SIGKILL/restart test).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import multiprocessing as mp
import os
import platform
import queue
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

RESULTS = Path(__file__).parent / "results"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("CAREBOOK_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
SLUG = "demo"
ZONE = ZoneInfo("America/New_York")
HORIZON_DAYS = 730
SERVER_SECRET_KEY = "burst-only-secret-key-not-for-production-0123456789"  # noqa: S105
SERVER_START_TIMEOUT = 60.0
LIVE = ("pending_payment", "booked", "arrived", "completed")
BOOKINGS = "/api/v1/practices/demo/bookings"
AVAILABILITY = "/api/v1/practices/demo/availability"
GROUP = 8  # clients per race group
STEP = 15  # minutes between the starts of an overlapping race group
KINDS = ("book_distinct", "race_same", "race_overlap", "race_any", "race_any_overlap", "availability")
# Share of the plan's requests per kind (the rest, after rounding, goes to book_distinct).
MIX = {"race_same": 0.16, "race_overlap": 0.12, "race_any": 0.08, "race_any_overlap": 0.08, "availability": 0.20}


@dataclass(frozen=True)
class BurstConfig:
    requests: int = 2000
    seconds: float = 60.0
    clients: int = 32
    processes: int = 4
    workers: int = 2
    seed: int = 7


# --- the plan ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    therapists: list[str]  # ids, in the demo's order
    massage: str  # 60 minutes + 15 buffer after
    short: str  # 30-minute re-assessment, no buffer


@dataclass(frozen=True)
class Job:
    index: int
    kind: str
    group: int  # race group number; -1 for jobs that race nobody
    method: str
    path: str
    body: dict[str, Any] | None = None
    params: dict[str, str] | None = None

    @property
    def email(self) -> str | None:
        return None if self.body is None else str(self.body["client"]["email"])

    @property
    def start_utc(self) -> str | None:
        if self.body is None:
            return None
        return dt.datetime.fromisoformat(self.body["start"]).astimezone(dt.UTC).isoformat()


@dataclass
class Plan:
    jobs: list[Job]
    first_day: dt.date
    last_day: dt.date
    groups: dict[int, str] = field(default_factory=dict)  # group -> kind


def _weekdays(first: dt.date) -> Iterator[dt.date]:
    day = first
    while True:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


class _Windows:
    """Hands out non-overlapping windows of the working day (09:00-17:00), day after day."""

    def __init__(self, days: Iterator[dt.date]) -> None:
        self._days = days
        self.day = next(days)
        self._minute = 9 * 60

    def take(self, minutes: int) -> dt.datetime:
        if self._minute + minutes > 17 * 60:
            self.day = next(self._days)
            self._minute = 9 * 60
        start = dt.datetime.combine(self.day, dt.time(self._minute // 60, self._minute % 60), ZONE)
        self._minute += minutes
        return start


def _booking(service: str, therapist: str | None, start: dt.datetime, email: str) -> dict[str, Any]:
    return {
        "service_id": service,
        "therapist_id": therapist,
        "start": start.isoformat(),
        "client": {"first_name": "Burst", "last_name": "Client", "email": email, "phone": "+1 212 555 0100"},
    }


def _distinct_units(
    catalogue: Catalogue, count: int, first_day: dt.date, rng: random.Random, emails: Iterator[str]
) -> tuple[list[list[dict[str, Any]]], dt.date]:
    """Bookings at slots of their own: the 30-minute service (no buffer), two therapists per half hour
    (two rooms). About one in five comes as a pair from one new client (one e-mail, two slots, at once)."""
    days = _weekdays(first_day)
    cells: list[tuple[dt.datetime, str]] = []
    while len(cells) < count:
        day = next(days)
        pair = [catalogue.therapists[(day.toordinal() + k) % len(catalogue.therapists)] for k in range(2)]
        for half_hour in range(16):
            start = dt.datetime.combine(day, dt.time(9 + half_hour // 2, 30 * (half_hour % 2)), ZONE)
            cells.extend((start, therapist) for therapist in pair)
    cells = cells[:count]
    rng.shuffle(cells)
    units: list[list[dict[str, Any]]] = []
    position = 0
    while position < len(cells):
        size = 2 if rng.random() < 0.1 and position + 1 < len(cells) else 1
        email = next(emails)
        units.append(
            [
                {"kind": "book_distinct", "body": _booking(catalogue.short, therapist, start, email)}
                for start, therapist in cells[position : position + size]
            ]
        )
        position += size
    last = max(start for start, _ in cells).date() if cells else first_day
    return units, last


def _race_units(
    catalogue: Catalogue, counts: dict[str, int], first_day: dt.date, rng: random.Random, emails: Iterator[str]
) -> tuple[list[list[dict[str, Any]]], dict[int, str], dt.date]:
    """Race groups of the 60-minute massage (a 75-minute block), each on a window nobody else books."""
    windows = _Windows(_weekdays(first_day))
    therapists = itertools.cycle(catalogue.therapists)
    block = 75
    units: list[list[dict[str, Any]]] = []
    group_kinds: dict[int, str] = {}
    numbers = itertools.count()
    for kind, one_therapist, staggered in (
        ("race_same", True, False),
        ("race_overlap", True, True),
        ("race_any", False, False),
        ("race_any_overlap", False, True),
    ):
        step = STEP if staggered else 0
        for _ in range(counts[kind] // GROUP):
            number = next(numbers)
            group_kinds[number] = kind
            start = windows.take((GROUP - 1) * step + block)
            therapist = next(therapists) if one_therapist else None
            members = [
                {
                    "kind": kind,
                    "group": number,
                    "body": _booking(
                        catalogue.massage, therapist, start + dt.timedelta(minutes=k * step), next(emails)
                    ),
                }
                for k in range(GROUP)
            ]
            rng.shuffle(members)
            units.append(members)
    return units, group_kinds, windows.day


def build_plan(
    catalogue: Catalogue, requests: int, *, seed: int, first_day: dt.date | None = None, first_index: int = 0
) -> Plan:
    """`requests` jobs: race groups on windows no other job touches, distinct bookings on days of their own,
    availability reads over the same weeks; shuffled, a race group's members kept next to each other.
    Plans checked together need days (`first_day` after the other's `last_day`) and indexes of their own."""
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:8]
    first_day = first_day or dt.datetime.now(ZONE).date() + dt.timedelta(days=3)
    counts = {kind: round(requests * share) for kind, share in MIX.items()}
    for kind in ("race_same", "race_overlap", "race_any", "race_any_overlap"):
        counts[kind] -= counts[kind] % GROUP
    emails = (f"burst-{tag}-{n}@example.test" for n in itertools.count())
    units, distinct_last = _distinct_units(catalogue, requests - sum(counts.values()), first_day, rng, emails)
    races, group_kinds, last_day = _race_units(catalogue, counts, distinct_last + dt.timedelta(days=1), rng, emails)
    units += races
    if (last_day - dt.datetime.now(ZONE).date()).days >= HORIZON_DAYS - 7:
        raise ValueError(f"{requests} requests need more than the {HORIZON_DAYS}-day horizon")
    span = max((last_day - first_day).days - 6, 0)
    for _ in range(counts["availability"]):
        date_from = first_day + dt.timedelta(days=rng.randint(0, span))
        params = {
            "service_id": rng.choice([catalogue.massage, catalogue.short]),
            "date_from": date_from.isoformat(),
            "date_to": (date_from + dt.timedelta(days=6)).isoformat(),
        }
        if rng.random() < 0.5:
            params["therapist_id"] = rng.choice(catalogue.therapists)
        units.append([{"kind": "availability", "params": params}])
    rng.shuffle(units)
    jobs = []
    for index, spec in enumerate((item for unit in units for item in unit), start=first_index):
        if spec["kind"] == "availability":
            jobs.append(Job(index, "availability", -1, "GET", AVAILABILITY, params=spec["params"]))
        else:
            jobs.append(Job(index, spec["kind"], spec.get("group", -1), "POST", BOOKINGS, body=spec["body"]))
    return Plan(jobs=jobs, first_day=first_day, last_day=last_day, groups=group_kinds)


# --- the clients ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    index: int
    kind: str
    status: int  # 0: no HTTP response (connection refused or dropped)
    started: float  # time.monotonic(), comparable across processes on one machine
    seconds: float
    appointment_id: str | None = None
    start_utc: str | None = None
    therapist_id: str | None = None
    code: str | None = None
    error: str | None = None


def _record(job: Job, started: float, seconds: float, response: httpx.Response) -> Record:
    appointment_id = start_utc = therapist_id = code = error = None
    if job.method == "POST" and response.status_code == 201:
        appointment = response.json()["appointment"]
        appointment_id = appointment["id"]
        start_utc = dt.datetime.fromisoformat(appointment["start"]).astimezone(dt.UTC).isoformat()
        therapist_id = appointment["therapist_id"]
    elif response.status_code >= 400:
        try:
            code = str(response.json().get("code"))
        except ValueError:
            error = response.text[:200]
    return Record(
        job.index,
        job.kind,
        response.status_code,
        started,
        seconds,
        appointment_id,
        start_utc,
        therapist_id,
        code,
        error,
    )


async def _drive(
    base_url: str, jobs: list[Job], counter: Any, barrier: Any, concurrency: int, seconds: float
) -> tuple[list[Record], float]:
    """This process's clients until the plan or the time runs out; its records and the CPU seconds it used."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    records: list[Record] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits) as client:
        await client.get("/health")
        await asyncio.to_thread(barrier.wait)
        deadline = time.monotonic() + seconds
        cpu = time.process_time()

        async def one_client() -> None:
            while time.monotonic() < deadline:
                with counter.get_lock():
                    index = counter.value
                    if index >= len(jobs):
                        return
                    counter.value = index + 1
                job = jobs[index]
                started = time.monotonic()
                try:
                    response = await client.request(job.method, job.path, json=job.body, params=job.params)
                except httpx.HTTPError as exc:
                    records.append(
                        Record(job.index, job.kind, 0, started, time.monotonic() - started, error=type(exc).__name__)
                    )
                    continue
                records.append(_record(job, started, time.monotonic() - started, response))

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return records, time.process_time() - cpu


def _client_process(
    base_url: str,
    jobs: list[Job],
    counter: Any,
    barrier: Any,
    concurrency: int,
    seconds: float,
    results: Any,
    number: int,
) -> None:
    try:
        records, cpu = asyncio.run(_drive(base_url, jobs, counter, barrier, concurrency, seconds))
    except BaseException as exc:
        results.put((number, [], 0.0, f"{type(exc).__name__}: {exc}"))
        raise
    results.put((number, records, cpu, None))


class Fleet:
    """Client processes sharing one plan; `start()` returns at once, `collect()` waits for every record."""

    def __init__(self, base_url: str, plan: Plan, *, clients: int, processes: int, seconds: float) -> None:
        self._context = mp.get_context("spawn")
        self.cpu_seconds = 0.0  # the client processes' CPU time while they drove the server
        self._counter = self._context.Value("i", 0)
        self._barrier = self._context.Barrier(processes)
        self._results = self._context.Queue()
        shares = [clients // processes + (1 if n < clients % processes else 0) for n in range(processes)]
        self._processes = [
            self._context.Process(
                target=_client_process,
                args=(base_url, plan.jobs, self._counter, self._barrier, share, seconds, self._results, n),
                daemon=True,
            )
            for n, share in enumerate(shares)
        ]

    def start(self) -> Fleet:
        for process in self._processes:
            process.start()
        return self

    def collect(self, timeout: float = 180.0) -> list[Record]:
        records: list[Record] = []
        failures: list[str] = []
        waiting = set(range(len(self._processes)))
        deadline = time.monotonic() + timeout
        try:
            while waiting:
                try:
                    number, part, cpu, failure = self._results.get(timeout=1.0)
                except queue.Empty:
                    dead = [n for n in waiting if self._processes[n].exitcode not in (None, 0)]
                    if dead:
                        failures.extend(f"process {n} died (exit code {self._processes[n].exitcode})" for n in dead)
                        break
                    if time.monotonic() > deadline:
                        failures.append(f"no result from processes {sorted(waiting)} within {timeout:g}s")
                        break
                    continue
                waiting.discard(number)
                records.extend(part)
                self.cpu_seconds += cpu
                if failure:
                    failures.append(failure)
        finally:
            for process in self._processes:
                process.join(timeout=10)
                if process.is_alive():
                    process.kill()
                    process.join()
        if failures:
            raise RuntimeError("client process failed: " + "; ".join(failures))
        return sorted(records, key=lambda r: r.started)


# --- the server ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`carebook serve --workers N` in a process group of its own (so SIGKILL reaches every worker)."""

    def __init__(self, database_url: str, *, workers: int, log_path: Path, port: int | None = None) -> None:
        self.database_url = database_url
        self.workers = workers
        self.log_path = log_path
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        env = {
            **os.environ,
            "CAREBOOK_DATABASE_URL": self.database_url,
            "CAREBOOK_SECRET_KEY": SERVER_SECRET_KEY,
            "CAREBOOK_BASE_URL": self.base_url,
        }
        command = [sys.executable, "-m", "scheduler.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._wait_ready(offset)
        return self

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-limit:].decode(errors="replace")
        except OSError:
            return "(no server log)"

    def _wait_ready(self, offset: int) -> None:
        """Every worker has started (uvicorn logs each one) and GET /health answers 200."""
        assert self.process is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not come up in {SERVER_START_TIMEOUT:g}s:\n{self.log_tail()}")
            started = self.log_path.read_bytes()[offset:].count(b"Application startup complete")
            if started >= self.workers and _healthy(self.base_url):
                return
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the whole process group: the supervisor and every worker, mid-request."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass
        # Workers the supervisor did not take down with it.
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serving(database_url: str, *, workers: int, log_path: Path) -> Iterator[Server]:
    server = Server(database_url, workers=workers, log_path=log_path).start()
    try:
        yield server
    finally:
        server.stop()


# --- the database --------------------------------------------------------------------------------------------------


@contextmanager
def throwaway_database(server_url: str) -> Iterator[str]:
    """A new, migrated database: on the PostgreSQL server of `server_url` (dropped afterwards), or for a
    `sqlite` URL a file in a temporary folder."""
    from sqlalchemy.engine import make_url

    from bench.harness import admin_sql
    from scheduler.migrations import runner

    if server_url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="carebook-burst-") as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'burst.sqlite3'}"
            runner.upgrade(url)
            yield url
        return
    name = f"carebook_burst_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin_sql(server_url, f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        runner.upgrade(url)
        yield url
    finally:
        asyncio.run(admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def seed(database_url: str) -> Catalogue:
    """The demo practice, its booking horizon made long enough for the whole plan."""

    async def work() -> Catalogue:
        from sqlalchemy import select

        from scheduler.db import build_alchemy_config, session_scope
        from scheduler.practice.demo import seed_demo
        from scheduler.practice.models import Practice, Service, Therapist
        from scheduler.settings import Settings

        settings = Settings(database_url=database_url, secret_key=SERVER_SECRET_KEY)
        config = build_alchemy_config(settings, pooled=False)
        try:
            async with session_scope(config) as session:
                await seed_demo(session)
                practice = await session.scalar(select(Practice).where(Practice.slug == SLUG))
                assert practice is not None
                practice.horizon_days = HORIZON_DAYS
                therapists = [
                    str(t.id) for t in await session.scalars(select(Therapist).order_by(Therapist.created_at))
                ]
                services = {s.duration_minutes: s for s in await session.scalars(select(Service)) if s.fsa_eligible}
                return Catalogue(therapists=therapists, massage=str(services[60].id), short=str(services[30].id))
        finally:
            await config.get_engine().dispose()

    return asyncio.run(work())


@dataclass(frozen=True)
class Check:
    name: str
    value: int
    expected: str
    passed: bool


def _as_id(raw: Any) -> str:
    return str(uuid.UUID(bytes=raw)) if isinstance(raw, bytes) else str(uuid.UUID(str(raw)))


def _as_utc(raw: Any) -> str:
    value = raw if isinstance(raw, dt.datetime) else dt.datetime.fromisoformat(str(raw))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


_LIVE_SQL = "(" + ", ".join(f"'{s}'" for s in LIVE) + ")"
OVERLAP_SQL = """
SELECT count(*) FROM appointment a JOIN appointment b
  ON a.{column} = b.{column} AND a.id < b.id
 AND a.block_start < b.block_end AND b.block_start < a.block_end
WHERE a.status IN {live} AND b.status IN {live}
"""
ORPHAN_SQL = {
    "appointments without their client": (
        "SELECT count(*) FROM appointment a LEFT JOIN client c ON c.id = a.client_id WHERE c.id IS NULL"
    ),
    "audit events without their appointment": (
        "SELECT count(*) FROM appointment_event e LEFT JOIN appointment a ON a.id = e.appointment_id WHERE a.id IS NULL"
    ),
    "appointments without exactly one 'booked' event": (
        "SELECT count(*) FROM appointment a WHERE (SELECT count(*) FROM appointment_event e "
        "WHERE e.appointment_id = a.id AND e.action = 'booked') <> 1"
    ),
    "audit events other than 'booked'": "SELECT count(*) FROM appointment_event WHERE action <> 'booked'",
    "clients without an appointment": (
        "SELECT count(*) FROM client c WHERE NOT EXISTS (SELECT 1 FROM appointment a WHERE a.client_id = c.id)"
    ),
    "confirmations in the outbox != appointments": (
        "SELECT abs((SELECT count(*) FROM outbox_message WHERE kind = 'booking_confirmation') "
        "- (SELECT count(*) FROM appointment))"
    ),
}


async def _fetch(database_url: str) -> tuple[dict[str, int], list[Any], set[str]]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            counts = {
                "overlapping live appointments (same therapist)": (
                    await conn.execute(text(OVERLAP_SQL.format(column="therapist_id", live=_LIVE_SQL)))
                ).scalar_one(),
                "overlapping live appointments (same room)": (
                    await conn.execute(text(OVERLAP_SQL.format(column="room_id", live=_LIVE_SQL)))
                ).scalar_one(),
            }
            for name, sql in ORPHAN_SQL.items():
                counts[name] = (await conn.execute(text(sql))).scalar_one()
            rows = list(
                await conn.execute(
                    text(
                        "SELECT a.id, a.status, a.therapist_id, a.start_at, c.email FROM appointment a "
                        "JOIN client c ON c.id = a.client_id"
                    )
                )
            )
            emails = {str(e) for e in (await conn.execute(text("SELECT email FROM client"))).scalars()}
    finally:
        await engine.dispose()
    return counts, rows, emails


def check_database(
    database_url: str, plans: Iterable[Plan], records: Iterable[Record], *, killed_at: float | None = None
) -> list[Check]:
    """What the database must show after the burst(s) of `records` (of `plans`).

    A booking with no HTTP answer (the server was killed under it) may or may not have been written: it
    may leave one whole appointment. One sent after `killed_at` (time.monotonic()) reached no server and,
    like a 409, must leave nothing."""
    jobs = {job.index: job for plan in plans for job in plan.jobs}
    records = list(records)
    counts, rows, emails = asyncio.run(_fetch(database_url))
    checks = [Check(name, int(value), "0", int(value) == 0) for name, value in counts.items()]

    stored = {_as_id(row.id): row for row in rows}
    bookings = [r for r in records if jobs[r.index].method == "POST"]
    won = [r for r in bookings if r.status == 201]
    refused = [r for r in bookings if r.status == 409]
    unanswered = [r for r in bookings if r.status == 0 and (killed_at is None or r.started < killed_at)]
    refused += [r for r in bookings if r.status == 0 and killed_at is not None and r.started >= killed_at]

    def key(job: Job) -> tuple[str | None, str | None]:
        return job.email, job.start_utc

    missing = 0
    for r in won:
        row = stored.get(r.appointment_id or "")
        job = jobs[r.index]
        if (
            row is None
            or row.status not in LIVE
            or _as_id(row.therapist_id) != r.therapist_id
            or _as_utc(row.start_at) != job.start_utc
            or str(row.email) != job.email
        ):
            missing += 1
    checks.append(Check("201s whose appointment is missing, not live or not as answered", missing, "0", missing == 0))
    stored_keys = Counter((str(row.email), _as_utc(row.start_at)) for row in rows)
    left_by_409 = sum(stored_keys[key(jobs[r.index])] for r in refused)
    name = "appointments left by a 409" + (" or by a request sent after the kill" if killed_at else "")
    checks.append(Check(name, left_by_409, "0", left_by_409 == 0))
    won_ids = {r.appointment_id for r in won}
    unconfirmed_keys = {key(jobs[r.index]) for r in unanswered}
    unexplained = sum(
        1
        for i, row in stored.items()
        if i not in won_ids and (str(row.email), _as_utc(row.start_at)) not in unconfirmed_keys
    )
    checks.append(Check("appointments no 201 (or unanswered request) explains", unexplained, "0", unexplained == 0))
    low, high = len(won), len(won) + len(unanswered)
    expected = f"{low}" if low == high else f"{low}..{high}"
    checks.append(Check("appointments stored", len(stored), expected, low <= len(stored) <= high))
    winner_emails = {jobs[r.index].email for r in won}
    loser_emails = {jobs[r.index].email for r in refused} - winner_emails - {e for e, _ in unconfirmed_keys}
    stray = len(loser_emails & emails)
    checks.append(Check("clients created by a 409 booking", stray, "0", stray == 0))
    absent = len({e for e in winner_emails if e not in emails})
    checks.append(Check("winning e-mails without their client", absent, "0", absent == 0))
    return checks


def check_responses(plan: Plan, records: Iterable[Record]) -> list[Check]:
    """What the answers alone must show: only 201/409 (slot_taken) for bookings, 200 for reads, one
    winner per single-therapist same-slot race, at most two (two rooms) per "any" same-slot race."""
    jobs = {job.index: job for job in plan.jobs}
    records = list(records)
    unexpected = 0
    for r in records:
        if jobs[r.index].method == "GET":
            unexpected += r.status != 200
        elif r.status == 409:
            unexpected += r.code != "slot_taken"
        else:
            unexpected += r.status != 201
    checks = [Check("answers other than 201, 409 slot_taken, or 200 for reads", unexpected, "0", unexpected == 0)]
    refused_distinct = sum(1 for r in records if r.kind == "book_distinct" and r.status == 409)
    checks.append(Check("distinct free slots refused", refused_distinct, "0", refused_distinct == 0))
    outcomes = race_outcomes(plan, records)
    bad_same = sum(1 for o in outcomes.values() if o["kind"] == "race_same" and o["complete"] and o["won"] != 1)
    checks.append(Check("same-slot races without exactly one winner", bad_same, "0", bad_same == 0))
    bad_any = sum(1 for o in outcomes.values() if o["kind"] == "race_any" and o["complete"] and not 1 <= o["won"] <= 2)
    checks.append(Check('"any" same-slot races without one or two winners', bad_any, "0", bad_any == 0))
    most = {"race_overlap": 2, "race_any_overlap": 4}  # 75-minute blocks starting 0..105 minutes apart
    bad_overlap = sum(
        1 for o in outcomes.values() if o["kind"] in most and o["complete"] and not 1 <= o["won"] <= most[o["kind"]]
    )
    checks.append(Check("overlapping races with no winner (or too many)", bad_overlap, "0", bad_overlap == 0))
    return checks


def race_outcomes(plan: Plan, records: Iterable[Record]) -> dict[int, dict[str, Any]]:
    """Per race group: its kind, how many members were answered, how many won, whether all were answered."""
    jobs = {job.index: job for job in plan.jobs}
    outcomes: dict[int, dict[str, Any]] = {
        g: {"kind": kind, "sent": 0, "won": 0, "complete": False} for g, kind in plan.groups.items()
    }
    for r in records:
        group = jobs[r.index].group
        if group < 0:
            continue
        outcomes[group]["sent"] += r.status != 0
        outcomes[group]["won"] += r.status == 201
    for outcome in outcomes.values():
        outcome["complete"] = outcome["sent"] == GROUP
    return outcomes


# --- the report ----------------------------------------------------------------------------------------------------


def _percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summarise(records: list[Record]) -> dict[str, Any]:
    if not records:
        return {"requests": 0, "seconds": 0.0, "throughput_rps": 0.0, "by_kind": {}}
    began = min(r.started for r in records)
    ended = max(r.started + r.seconds for r in records)
    wall = max(ended - began, 1e-9)
    by_kind: dict[str, Any] = {}
    for kind in (*KINDS, "all"):
        mine = records if kind == "all" else [r for r in records if r.kind == kind]
        if not mine:
            continue
        latencies = sorted(r.seconds * 1000 for r in mine)
        statuses = Counter(str(r.status) if r.status else f"error:{r.error}" for r in mine)
        by_kind[kind] = {
            "requests": len(mine),
            "rps": round(len(mine) / wall, 1),
            "p50_ms": round(_percentile(latencies, 50), 1),
            "p95_ms": round(_percentile(latencies, 95), 1),
            "p99_ms": round(_percentile(latencies, 99), 1),
            "max_ms": round(latencies[-1], 1) if latencies else float("nan"),
            "statuses": dict(sorted(statuses.items())),
        }
    return {"requests": len(records), "seconds": round(wall, 2), "throughput_rps": round(len(records) / wall, 1)} | {
        "by_kind": by_kind
    }


def table(summary: dict[str, Any], checks: list[Check]) -> str:
    header = f"{'request type':<18} {'count':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses"
    lines = [header, "-" * (len(header) + 24)]
    for kind, row in summary["by_kind"].items():
        statuses = " ".join(f"{k}:{v}" for k, v in row["statuses"].items())
        lines.append(
            f"{kind:<18} {row['requests']:>6} {row['rps']:>7.1f} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} "
            f"{row['p99_ms']:>8.1f}  {statuses}"
        )
    lines.append("")
    lines.extend(f"  {'PASS' if c.passed else 'FAIL'}  {c.name}: {c.value} (expected {c.expected})" for c in checks)
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "load_average_1m_before": round(os.getloadavg()[0], 2),
    }


def cpu_seconds(server_pgid: int | None) -> dict[str, float]:
    """CPU time used so far (Linux /proc; empty elsewhere): the whole machine's busy time, the server's
    process group, and PostgreSQL's processes. Two snapshots' difference shows where the cores went."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return {}
    used = {"machine": (sum(values) - values[3] - values[4]) / tick, "server": 0.0, "postgres": 0.0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        name, rest = raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()
        cpu = (int(rest[11]) + int(rest[12])) / tick  # utime, stime
        if server_pgid is not None and int(rest[2]) == server_pgid:
            used["server"] += cpu
        elif name.startswith("postgres"):
            used["postgres"] += cpu
    return used


def run(config: BurstConfig, server_url: str, log_path: Path) -> dict[str, Any]:
    """The whole burst on a throw-away database; returns the report (its `passed` says whether all checks hold)."""
    with throwaway_database(server_url) as url:
        catalogue = seed(url)
        plan = build_plan(catalogue, config.requests, seed=config.seed)
        with serving(url, workers=config.workers, log_path=log_path) as server:
            fleet = Fleet(
                server.base_url, plan, clients=config.clients, processes=config.processes, seconds=config.seconds
            )
            pgid = server.process.pid if server.process else None
            before = cpu_seconds(pgid)
            records = fleet.start().collect(timeout=config.seconds + 120)
            after = cpu_seconds(pgid)
        checks = check_responses(plan, records) + check_database(url, [plan], records)
    summary = summarise(records)
    outcomes = race_outcomes(plan, records)
    any_short = sum(1 for o in outcomes.values() if o["kind"] == "race_any" and o["complete"] and o["won"] < 2)
    cpu = {name: round(after[name] - before[name], 1) for name in after} | {"clients": round(fleet.cpu_seconds, 1)}
    if "machine" in cpu:  # other processes on the machine, and the clients' start-up
        cpu["other"] = round(max(cpu["machine"] - cpu["server"] - cpu["postgres"] - cpu["clients"], 0.0), 1)
        cpu["server_ms_per_request"] = round(1000 * cpu["server"] / max(len(records), 1), 1)
    return {
        "command": "python -m bench.burst " + " ".join(f"--{k} {v}" for k, v in asdict(config).items()),
        "machine": machine(),
        "config": asdict(config),
        "plan": {
            "jobs": len(plan.jobs),
            "first_day": plan.first_day.isoformat(),
            "last_day": plan.last_day.isoformat(),
        },
        **summary,
        "cpu_seconds": cpu,
        "races": {
            kind: {
                "groups": sum(1 for o in outcomes.values() if o["kind"] == kind and o["sent"]),
                "winners": sum(o["won"] for o in outcomes.values() if o["kind"] == kind),
            }
            for kind in ("race_same", "race_overlap", "race_any", "race_any_overlap")
        }
        | {"race_any_groups_with_one_winner_only": any_short},
        "checks": [asdict(c) for c in checks],
        "passed": all(c.passed for c in checks),
    }


def main(argv: list[str] | None = None) -> int:
    defaults = BurstConfig()
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=defaults.requests, help="stop after this many requests")
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="... or after this long")
    parser.add_argument("--clients", type=int, default=defaults.clients, help="concurrent clients in all")
    parser.add_argument("--processes", type=int, default=defaults.processes, help="client processes")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="server worker processes")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server (a throw-away database is made on it)")
    parser.add_argument("--json", type=Path, default=RESULTS / "burst.json")
    args = parser.parse_args(argv)
    config = BurstConfig(args.requests, args.seconds, args.clients, args.processes, args.workers, args.seed)
    RESULTS.mkdir(exist_ok=True)
    log_path = RESULTS / "burst-server.log"
    log_path.write_bytes(b"")
    try:
        report = run(config, args.pg_url, log_path)
    except OSError as exc:
        print(f"!!! PostgreSQL at {args.pg_url} unreachable ({exc})", file=sys.stderr)
        return 2
    print(
        f"{report['requests']} requests in {report['seconds']} s from {config.clients} clients in "
        f"{config.processes} processes against {config.workers} server workers: {report['throughput_rps']} req/s "
        f"({report['machine']['cpus']} CPUs)\n"
    )
    print(table(report, [Check(**c) for c in report["checks"]]))
    print(f"\n  races: {json.dumps(report['races'])}")
    cpu = report["cpu_seconds"]
    if "machine" in cpu:
        capacity = (report["machine"]["cpus"] or 1) * report["seconds"]
        print(
            f"  CPU seconds while the clients ran ({capacity:.0f} available): server {cpu['server']}, "
            f"PostgreSQL {cpu['postgres']}, clients {cpu['clients']}, anything else {cpu['other']} "
            f"(load average before: {report['machine']['load_average_1m_before']}); the server used "
            f"{cpu['server_ms_per_request']} ms of CPU per request"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults written to {args.json}; server log at {log_path}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
