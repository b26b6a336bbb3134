"""The `carebook` command: database, demo seed, server, practices, users and tokens."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.db import build_alchemy_config, scope_session, session_scope
from scheduler.errors import CarebookError
from scheduler.mail import services as mail
from scheduler.mail.smtp import SmtpUrlInvalid
from scheduler.migrations import runner
from scheduler.practice import services
from scheduler.practice.demo import seed_demo
from scheduler.practice.models import Practice
from scheduler.settings import get_settings

T = TypeVar("T")


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one unit of work in a committed transaction; domain errors become a clean exit code 2."""
    settings = get_settings()

    async def main() -> T:
        config = build_alchemy_config(settings, pooled=False)
        try:
            async with session_scope(config) as session:
                return await work(session)
        finally:
            await config.get_engine().dispose()

    try:
        return asyncio.run(main())
    except CarebookError as exc:
        field = f" ({exc.field})" if exc.field else ""
        raise click.ClickException(f"{exc.detail}{field}") from None


@click.group()
def main() -> None:
    """Carebook: booking and billing for therapeutic massage practices."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations to the database in CAREBOOK_DATABASE_URL."""
    settings = get_settings()
    runner.upgrade(settings.database_url, revision)
    click.echo(f"database at {_redact(settings.database_url)} is at {revision}")


@db.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """(developers) Autogenerate a migration from the models."""
    runner.revision(get_settings().database_url, message)


@main.command()
@click.option("--password", envvar="CAREBOOK_DEMO_PASSWORD", default=None, help="Demo staff password.")
def demo(password: str | None) -> None:
    """Seed the demo practice (idempotent) and print the staff sign-in and a fresh API token."""

    async def work(session: AsyncSession) -> tuple[str, str, str]:
        creds = await seed_demo(session, password)
        owner = await services.find_user_by_email(session, creds.owner_email)
        if owner is None:
            raise click.ClickException("the demo owner is missing")
        _, token = await services.create_token(session, owner, label="carebook demo")
        return creds.owner_email, creds.password, token

    email, pw, token = _run(work)
    base = get_settings().base_url
    click.echo("Demo practice 'demo' is ready.")
    click.echo(f"  staff sign-in:  {base}/login")
    click.echo(f"  owner:          {email}")
    click.echo("  desk:           desk@demo.test")
    click.echo(f"  password:       {pw}   (both accounts; reset on every `carebook demo`)")
    click.echo("  staff API token (Authorization: Bearer ...):")
    click.echo(token)


# How long a `serve --workers N` worker may take to answer the supervisor (start-up included).
WORKER_HEALTHCHECK_SECONDS = 60


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the app with uvicorn."""
    import uvicorn

    uvicorn.run(
        "scheduler.asgi:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        access_log=False,
        log_level="info",
        # A worker answers the supervisor's ping only once it runs: spawning re-imports this module and then the
        # app (WeasyPrint, the SDK…), which takes well over uvicorn's default 5 s on a busy machine, and the
        # supervisor then kills every worker as hung before it ever serves.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


@main.group()
def practice() -> None:
    """Practices (tenants)."""


@practice.command("add")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--timezone", required=True, help="IANA zone, e.g. America/Chicago")
@click.option("--currency", default="USD", show_default=True)
def practice_add(slug: str, name: str, timezone: str, currency: str) -> None:
    """Add a practice."""

    async def work(session: AsyncSession) -> Practice:
        return await services.create_practice(session, slug=slug, name=name, timezone=timezone, currency=currency)

    created = _run(work)
    click.echo(f"practice {created.slug} added ({created.timezone}, {created.currency})")


@main.group()
def user() -> None:
    """Staff users."""


@user.command("add")
@click.argument("email")
@click.option("--practice", "slug", required=True)
@click.option("--role", type=click.Choice(["owner", "desk", "therapist"]), required=True)
@click.option("--name", "full_name", default="")
def user_add(email: str, slug: str, role: str, full_name: str) -> None:
    """Add a staff user; the password is read from standard input."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")

    async def work(session: AsyncSession) -> str:
        found = await services.get_practice_by_slug(session, slug)
        scope_session(session, found.id)
        created = await services.add_user(
            session, practice=found, email=email, password=password, role=role, full_name=full_name
        )
        return created.email

    click.echo(f"user {_run(work)} added to {slug} as {role}")


@main.group()
def token() -> None:
    """Staff API tokens."""


@token.command("create")
@click.argument("email")
@click.option("--label", default="cli")
def token_create(email: str, label: str) -> None:
    """Create an API token for a staff user; the token is the last line printed."""

    async def work(session: AsyncSession) -> str:
        found = await services.find_user_by_email(session, email)
        if found is None or not found.is_active:
            raise click.ClickException(f"no active staff user {email}")
        _, plain = await services.create_token(session, found, label=label)
        return plain

    plain = _run(work)
    click.echo(f"API token for {email} (shown once, stored only as a hash):")
    click.echo(plain)


@main.group()
def outbox() -> None:
    """Outbound e-mail waiting in the outbox."""


@outbox.command("send")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(min=1), help="At most this many.")
def outbox_send(limit: int) -> None:
    """Send waiting e-mail through CAREBOOK_SMTP_URL (without it, mail stays in the outbox)."""
    settings = get_settings()

    async def main() -> tuple[mail.SendReport, int]:
        config = build_alchemy_config(settings, pooled=False)
        try:
            report = await mail.send_pending(config, settings, limit=limit)
            async with session_scope(config) as session:
                waiting = await mail.count_unsent(session)
            return report, waiting
        finally:
            await config.get_engine().dispose()

    try:
        report, waiting = asyncio.run(main())
    except SmtpUrlInvalid as exc:
        raise click.ClickException(str(exc)) from None
    if not report.configured:
        click.echo(f"CAREBOOK_SMTP_URL is not set: nothing sent; {waiting} message(s) wait in the outbox.")
        click.echo("Owners read them at /staff/outbox.")
        return
    click.echo(f"sent {report.sent}, failed {report.failed}; {waiting} message(s) still waiting")
    if report.failed:
        raise SystemExit(1)


def _add_wired_commands() -> None:
    """Commands other packages contribute (billing's `stripe` group), listed by the composition root."""
    from scheduler.app import CLI_COMMANDS

    for command in CLI_COMMANDS:
        main.add_command(command)


_add_wired_commands()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":
    main()
