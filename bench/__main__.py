"""`make bench`: run every benchmark on SQLite and (when reachable) PostgreSQL, print the table, write JSON."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import bench_availability, bench_feeds, bench_receipts, bench_series
from bench.harness import Result, admin_sql, table
from scheduler.migrations import runner
from scheduler.settings import Settings

RESULTS = Path(__file__).parent / "results"
PG_URL = os.environ.get("CAREBOOK_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
BENCHMARKS = [bench_availability.run, bench_series.run, bench_feeds.run, bench_receipts.run]
ONLY = os.environ.get("CAREBOOK_BENCH_ONLY")  # e.g. receipts: run one benchmark module


def _settings(url: str) -> Settings:
    return Settings(database_url=url, secret_key="bench-only-not-a-secret")  # noqa: S106


async def _run_all(url: str, label: str) -> list[Result]:
    results: list[Result] = []
    for benchmark in BENCHMARKS:
        if ONLY and ONLY not in benchmark.__module__:
            continue
        results.extend(await benchmark(_settings(url), label))
    return results


def main() -> int:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
        runner.upgrade(url)
        results.extend(asyncio.run(_run_all(url, "SQLite")))
    name = f"carebook_bench_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(admin_sql(PG_URL, f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        print(f"!!! PostgreSQL at {PG_URL} unreachable ({exc}); PostgreSQL rows skipped", file=sys.stderr)
    else:
        pg = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        try:
            runner.upgrade(pg)
            results.extend(asyncio.run(_run_all(pg, "PostgreSQL")))
        finally:
            asyncio.run(admin_sql(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(table(results))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
    print(f"\nresults written to {RESULTS / 'latest.json'}")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
