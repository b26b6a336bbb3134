"""Browser harness: the real app served by uvicorn in a subprocess, driven by headless Debian Chromium.

- `live_server` (session, tests/conftest.py): the base URL of `uvicorn scheduler.asgi:app` on a free loopback port,
  on the run's database; a failed test's report carries the tail of the server's log.
- `demo_practice` (autouse): every browser test starts from empty tables plus the seeded demo practice,
  whose staff sign in with `PASSWORD`.
- `page` / `phone_page`: a fresh browser context per test, desktop (1280x800) or phone (390x844) viewport.
  A failed test leaves a screenshot in tests/browser/artifacts/<test name>.png.

Playwright's async API is used so fixtures and tests share pytest-asyncio's session event loop.
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Playwright, ViewportSize, async_playwright, expect
from playwright.async_api import Error as PlaywrightError
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.db import build_alchemy_config, session_scope
from scheduler.practice.demo import DEMO_OWNER, seed_demo
from scheduler.settings import Settings
from tests.conftest import IN_CI, empty_all_tables

PASSWORD = "correct horse battery"
OWNER_EMAIL = DEMO_OWNER
PRACTICE_NAME = "Demo Massage & Bodywork"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP_VIEWPORT = ViewportSize(width=1280, height=800)
PHONE_VIEWPORT = ViewportSize(width=390, height=844)

# Generous for a loaded CI box, far below anything a healthy page needs.
ACTION_TIMEOUT_MS = 15_000
expect.set_options(timeout=10_000)
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
_HERE = Path(__file__).resolve().parent
_SKIP_REASON = "!!! SKIPPING BROWSER TESTS"


# --- markers and failure reports ---------------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser with `browser` (the hook sees the whole session's items)."""
    for item in items:
        if _HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    """Keep each phase's report on the item (`rep_setup`, `rep_call`, ...) so fixtures can see a failure."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _failed(node: pytest.Item) -> bool:
    reports = (getattr(node, f"rep_{phase}", None) for phase in ("setup", "call"))
    return any(report is not None and report.failed for report in reports)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say loudly, at the end of the run, that browser tests were skipped for want of Chromium."""
    skipped = terminalreporter.stats.get("skipped", [])
    if any(_SKIP_REASON in str(report.longrepr) for report in skipped):
        terminalreporter.write_line(
            f"!!! browser tests SKIPPED: {CHROMIUM} is missing (install it with `make system-deps`)",
            red=True,
            bold=True,
        )


def _artifact_name(node: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name).strip("_") + ".png"


# --- the app under test --------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
async def demo_practice(engine: AsyncEngine, settings: Settings) -> None:
    """Each browser test starts from empty tables and the demo practice, whose staff use PASSWORD."""
    await empty_all_tables(engine)
    config = build_alchemy_config(settings)
    try:
        async with session_scope(config) as session:
            await seed_demo(session, password=PASSWORD)
    finally:
        await config.get_engine().dispose()


# --- the browser ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium; Playwright cannot download its own browser here. Missing: fail in CI, else skip."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: browser tests need Debian's chromium package (`make system-deps`)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(f"{_SKIP_REASON}: {message}")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium_path: Path, playwright: Playwright) -> AsyncIterator[Browser]:
    launched = await playwright.chromium.launch(executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS)
    yield launched
    await launched.close()


@asynccontextmanager
async def _open_page(
    request: pytest.FixtureRequest, browser: Browser, base_url: str, **options: Any
) -> AsyncIterator[Page]:
    """A page in a fresh context; on a failed test, a full-page screenshot goes to tests/browser/artifacts/."""
    context = await browser.new_context(base_url=base_url, **options)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        page = await context.new_page()
        yield page
        if _failed(request.node) and not page.is_closed():
            ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            target = ARTIFACTS_DIR / _artifact_name(request.node)
            try:
                await page.screenshot(path=str(target), full_page=True, timeout=5_000)
            except PlaywrightError as exc:  # a hung page must not turn one failure into two
                print(f"could not save {target}: {exc}", file=sys.stderr)
    finally:
        await context.close()


@pytest.fixture
async def page(request: pytest.FixtureRequest, browser: Browser, live_server: str) -> AsyncIterator[Page]:
    """A desktop-sized page in its own context; relative URLs resolve against the live server."""
    async with _open_page(request, browser, live_server, viewport=DESKTOP_VIEWPORT) as opened:
        yield opened


@pytest.fixture
async def phone_page(request: pytest.FixtureRequest, browser: Browser, live_server: str) -> AsyncIterator[Page]:
    """A 390x844 (phone) page in its own context."""
    async with _open_page(
        request, browser, live_server, viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True
    ) as opened:
        yield opened
