"""The `carebook` command as an operator uses it: from any folder, on the database in the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

CARBOOK = [sys.executable, "-m", "scheduler.cli"]


def carebook(database_url: str, cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAREBOOK_DATABASE_URL": database_url}
    env.pop("CAREBOOK_SECRET_KEY", None)
    return subprocess.run(
        [*CARBOOK, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


async def test_operator_adds_practice_user_and_token_then_uses_the_api(
    database_url: str, tmp_path: Path, client: AsyncTestClient[Litestar]
) -> None:
    added = carebook(
        database_url,
        tmp_path,
        "practice",
        "add",
        "north-clinic",
        "--name",
        "North Clinic",
        "--timezone",
        "America/Chicago",
    )
    assert added.returncode == 0, added.stderr
    user = carebook(
        database_url,
        tmp_path,
        "user",
        "add",
        "lead@north.test",
        "--practice",
        "north-clinic",
        "--role",
        "owner",
        stdin="a long enough password\n",
    )
    assert user.returncode == 0, user.stderr
    token = carebook(database_url, tmp_path, "token", "create", "lead@north.test")
    assert token.returncode == 0, token.stderr
    plain = token.stdout.strip().splitlines()[-1]
    assert plain.startswith("cb_")
    assert "a long enough password" not in token.stdout + user.stdout

    response = await client.get("/api/v1/practice", headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 200
    assert response.json()["timezone"] == "America/Chicago"
    assert not any(tmp_path.iterdir()), "the CLI wrote nothing into the working folder"


def test_cli_rejects_bad_input_with_a_clear_message(database_url: str, tmp_path: Path) -> None:
    bad_zone = carebook(database_url, tmp_path, "practice", "add", "x-1", "--name", "X", "--timezone", "Mars/Olympus")
    assert bad_zone.returncode != 0
    assert "time zone" in bad_zone.stderr
    no_practice = carebook(
        database_url, tmp_path, "user", "add", "a@b.test", "--practice", "nowhere", "--role", "desk", stdin="x" * 12
    )
    assert no_practice.returncode != 0
    assert "No practice" in no_practice.stderr
    assert "Traceback" not in bad_zone.stderr + no_practice.stderr


async def test_demo_seed_is_idempotent(database_url: str, tmp_path: Path, engine: AsyncEngine) -> None:
    first = carebook(database_url, tmp_path, "demo")
    second = carebook(database_url, tmp_path, "demo")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "owner@demo.test" in second.stdout
    assert second.stdout.strip().splitlines()[-1].startswith("cb_")
    async with engine.connect() as conn:
        counts = {
            table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in ("practice", "therapist", "room", "service", "staff_user", "working_hours")
        }
    assert counts == {
        "practice": 1,
        "therapist": 3,
        "room": 2,
        "service": 4,
        "staff_user": 3,
        "working_hours": 15,
    }


def test_stripe_reconcile_runs_from_any_folder(database_url: str, tmp_path: Path) -> None:
    replayed = carebook(database_url, tmp_path, "stripe", "reconcile")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 0 events" in replayed.stdout
