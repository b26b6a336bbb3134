"""The Docker deployment stays in step with the settings, the Makefile and the CLI (no Docker needed)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
MAKEFILE = ROOT / "Makefile"
SETTINGS = ROOT / "scheduler" / "settings.py"

# Every CAREBOOK_* variable settings.py reads must appear in the app's environment; none is exempt.
# The optional ones (CAREBOOK_DEBUG, CAREBOOK_SMTP_URL, CAREBOOK_STRIPE_*) are passed through as
# `${VAR:-}`, and settings.py treats an empty value as unset, so listing them costs nothing.
OPTIONAL_SETTINGS: frozenset[str] = frozenset()


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _service(name: str) -> dict[str, Any]:
    services = _compose().get("services") or {}
    assert name in services, f"docker-compose.yml has no service {name!r}"
    service = services[name]
    assert isinstance(service, dict)
    return service


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """Compose accepts a mapping or a list of KEY=VALUE strings."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (str(item).partition("=") for item in raw)
        return {key: value for key, _, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def _settings_variables() -> set[str]:
    return set(re.findall(r"CAREBOOK_[A-Z_]+", SETTINGS.read_text(encoding="utf-8")))


def _makefile_port() -> str:
    match = re.search(r"^PORT\s*\?=\s*(\d+)\s*$", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, "the Makefile has no `PORT ?= N` default"
    return match.group(1)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with backslash continuations joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    if current:
        logical.append(current)
    pairs = []
    for entry in logical:
        keyword, _, rest = entry.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _command_text(value: str | list[str]) -> str:
    """A Dockerfile CMD (exec or shell form) or compose `command` flattened to one shell string."""
    if isinstance(value, list):
        return " ".join(value)
    if value.startswith("["):
        return " ".join(json.loads(value))
    return value


def _assert_migrates_then_serves(command: str) -> None:
    upgrade = command.find("carebook db upgrade")
    serve = command.find("carebook serve")
    assert upgrade != -1, f"{command!r} does not run `carebook db upgrade`"
    assert serve != -1, f"{command!r} does not run `carebook serve`"
    assert upgrade < serve, f"{command!r} must migrate before serving"
    assert "&&" in command[upgrade:serve], "a failed migration must stop the server from starting"


def test_compose_defines_app_and_db() -> None:
    services = _compose().get("services") or {}
    assert {"app", "db"} <= set(services)


def test_db_is_postgres_16_with_volume_and_healthcheck() -> None:
    db = _service("db")
    assert str(db.get("image", "")).startswith("postgres:16")
    assert db.get("volumes"), "the database needs a volume so data survives `docker compose down`"
    named = {str(v).split(":", 1)[0] for v in db["volumes"]}
    assert named & set(_compose().get("volumes") or {}), "the db volume should be a declared named volume"
    healthcheck = db.get("healthcheck") or {}
    assert "pg_isready" in _command_text(healthcheck.get("test", ""))


def test_app_publishes_the_makefile_port() -> None:
    port = _makefile_port()
    published = [str(p) for p in _service("app").get("ports") or []]
    assert f"{port}:{port}" in published, f"app should publish {port}:{port}, has {published}"
    assert f"--port {port}" in _dockerfile_cmd()
    assert re.search(rf"^EXPOSE\s+{port}\b", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)


def test_app_waits_for_a_healthy_db() -> None:
    depends_on = _service("app").get("depends_on")
    assert isinstance(depends_on, dict), "depends_on needs the long form to carry a condition"
    assert (depends_on.get("db") or {}).get("condition") == "service_healthy"


def test_app_has_a_healthcheck_on_health() -> None:
    healthcheck = _service("app").get("healthcheck") or {}
    assert "/health" in _command_text(healthcheck.get("test", ""))


def test_app_environment_sets_every_setting() -> None:
    wanted = _settings_variables() - OPTIONAL_SETTINGS
    assert "CAREBOOK_DATABASE_URL" in wanted, "the scan of settings.py found nothing; has it moved?"
    missing = wanted - set(_environment(_service("app")))
    assert not missing, f"docker-compose.yml app.environment is missing {sorted(missing)}"


def test_database_url_points_at_the_db_service_with_asyncpg() -> None:
    url = _environment(_service("app"))["CAREBOOK_DATABASE_URL"]
    parts = urlsplit(url)
    assert parts.scheme == "postgresql+asyncpg"
    assert parts.hostname == "db"
    assert "db" in (_compose().get("services") or {})


def _dockerfile_cmd() -> str:
    commands = [rest for keyword, rest in _dockerfile_instructions() if keyword == "CMD"]
    assert commands, "the Dockerfile has no CMD"
    return _command_text(commands[-1])  # the last CMD wins


def test_dockerfile_migrates_before_serving() -> None:
    _assert_migrates_then_serves(_dockerfile_cmd())
    override = _service("app").get("command")
    if override is not None:
        _assert_migrates_then_serves(_command_text(override))


def test_dockerfile_runs_as_non_root() -> None:
    users = [rest for keyword, rest in _dockerfile_instructions() if keyword == "USER"]
    assert users, "the Dockerfile should switch to a non-root USER"
    assert users[-1].split(":", 1)[0] not in {"root", "0"}


def _makefile_pdf_packages() -> list[str]:
    match = re.search(r"^PDF_PACKAGES\s*:=\s*(.+)$", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, "the Makefile has no `PDF_PACKAGES := …` (the system libraries WeasyPrint needs)"
    return match.group(1).split()


def test_makefile_pdf_packages_include_the_fast_font_subsetter() -> None:
    # Without libharfbuzz-subset0 WeasyPrint silently falls back to fontTools, about 8x slower per receipt.
    assert {"libpango-1.0-0", "libharfbuzz-subset0"} <= set(_makefile_pdf_packages())


@pytest.mark.parametrize("package", _makefile_pdf_packages())
def test_dockerfile_installs_the_makefiles_pdf_packages(package: str) -> None:
    runs = " ".join(rest for keyword, rest in _dockerfile_instructions() if keyword == "RUN")
    assert "apt-get install" in runs
    assert package in shlex.split(runs)


@pytest.mark.parametrize("target", ["run", "bench", "system-deps"])
def test_makefile_targets_that_render_pdfs_install_the_pdf_packages(target: str) -> None:
    match = re.search(rf"^{re.escape(target)}:(.*)$", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"the Makefile has no `{target}` target"
    body = MAKEFILE.read_text(encoding="utf-8")[match.end() :].split("\n\n", 1)[0]
    assert "pdf-deps" in match.group(1).split() or "$(PDF_PACKAGES)" in body
