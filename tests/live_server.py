"""The real app served by uvicorn in a subprocess on a free loopback port, against the run's database.

Shared by the browser tests and the API fuzzer (through the session fixture `live_server` in tests/conftest.py),
so both exercise the whole stack: socket, uvicorn, middleware, handlers and the database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SERVER_SECRET_KEY = "live-server-test-secret-key-not-for-production-0123456789"
SERVER_START_TIMEOUT = 60.0
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class ServerStartError(RuntimeError):
    """The server exited, or did not answer GET /health with 200 in time; the message carries its log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def log_tail(path: Path, limit: int = 6000) -> str:
    try:
        return path.read_bytes()[-limit:].decode(errors="replace")
    except OSError:
        return "(no server log)"


@contextmanager
def serve_app(database_url: str, log_path: Path) -> Iterator[str]:
    """`uvicorn scheduler.asgi:app` on a free loopback port; yields its base URL once /health answers 200."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CAREBOOK_DATABASE_URL": database_url,
        "CAREBOOK_SECRET_KEY": SERVER_SECRET_KEY,
        "CAREBOOK_BASE_URL": base_url,
    }
    command = [sys.executable, "-m", "uvicorn", "scheduler.asgi:app", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while not healthy(f"{base_url}/health"):
                if process.poll() is not None or time.monotonic() > deadline:
                    state = f"exited with {process.returncode}" if process.poll() is not None else "timed out"
                    raise ServerStartError(
                        f"the app server {state} before GET /health answered 200:\n{log_tail(log_path)}"
                    )
                time.sleep(0.1)
            yield base_url
        finally:
            stop(process)
