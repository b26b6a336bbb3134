"""Typed settings read once from `CAREBOOK_*` environment variables."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _resource_dir(source_name: str, installed_name: str) -> Path:
    """Find a top-level resource folder in a source checkout or next to the installed package."""
    root = PACKAGE_DIR.parent
    for candidate in (root / source_name, root / installed_name):
        if candidate.is_dir():
            return candidate
    return root / source_name


TEMPLATES_DIR = _resource_dir("templates", "carebook_templates")
STATIC_DIR = _resource_dir("static", "carebook_static")
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"


def _default_database_url() -> str:
    var = Path.cwd() / "var"
    return f"sqlite+aiosqlite:///{var / 'carebook.sqlite3'}"


def _normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick the async drivers."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    base_url: str = "http://127.0.0.1:8000"
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    smtp_url: str | None = None
    debug: bool = False
    login_max_failures: int = 5
    login_window_seconds: int = 900
    session_max_age_seconds: int = 60 * 60 * 12

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def cookies_secure(self) -> bool:
        return self.base_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        secret = env.get("CAREBOOK_SECRET_KEY") or ""
        if not secret:
            # A per-process random key keeps a development server safe; sessions just do not survive restarts.
            secret = secrets.token_urlsafe(32)
        return cls(
            database_url=_normalise_database_url(env.get("CAREBOOK_DATABASE_URL") or _default_database_url()),
            secret_key=secret,
            base_url=(env.get("CAREBOOK_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
            stripe_secret_key=env.get("CAREBOOK_STRIPE_SECRET_KEY") or None,
            stripe_webhook_secret=env.get("CAREBOOK_STRIPE_WEBHOOK_SECRET") or None,
            stripe_api_base=env.get("CAREBOOK_STRIPE_API_BASE") or None,
            smtp_url=env.get("CAREBOOK_SMTP_URL") or None,
            debug=env.get("CAREBOOK_DEBUG", "").lower() in {"1", "true", "yes"},
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
