"""E-mail through the outbox and the client portal, as a client, the front desk and an owner meet them.

Booking, moving and cancelling a visit queue an e-mail in the same transaction; a tiny SMTP server on
127.0.0.1 stands in for the practice's mail server; without one, the owner reads the mail on
/staff/outbox. The portal signs a client in with a one-time link and shows only their own visits.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email
import email.policy
import io
import logging
import re
import socket
import socketserver
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import jinja2
import jinja2.meta
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from scheduler.app import create_app
from scheduler.booking.models import Appointment
from scheduler.booking.notices import SeriesChange, SeriesVisit
from scheduler.booking.visits import PracticeFacts, VisitFacts
from scheduler.clients import services as client_services
from scheduler.clients.models import ClientSignInLink
from scheduler.clients.services import ClientDetails
from scheduler.db import scope_session, session_scope, unscoped
from scheduler.mail import services as mail
from scheduler.mail.models import OutboxMessage
from scheduler.practice.models import Practice, Role
from scheduler.settings import TEMPLATES_DIR, Settings
from tests.integration.booking_helpers import NEW_YORK, Client, at, booking, load_demo, weekday_ahead
from tests.integration.conftest import PASSWORD, Factory
from tests.integration.portal_helpers import follow_sign_in_link
from tests.integration.test_cli import carebook

HTML = {"accept": "text/html"}
HEALTH_NOTE = "HEALTH-NOTE sciatica L4-L5 disc"
HEALTH_REASON = "HEALTH-REASON migraine flare"
SMTP_USER, SMTP_PASSWORD = "carebook", "s3cret-pass"
CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')


# -- a tiny SMTP server ---------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: _SmtpServer

    def reply(self, *lines: str) -> None:
        for line in lines:
            self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        fake = self.server.fake
        self.reply("220 fake.smtp ESMTP ready")
        mail_from, rcpt_to = "", []
        while raw := self.rfile.readline():
            line = raw.decode().rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-fake.smtp", "250-AUTH PLAIN", "250 8BITMIME")
            elif verb in {"HELO", "NOOP", "RSET"}:
                self.reply("250 OK")
            elif verb == "AUTH":
                _, user, password = base64.b64decode(line.split()[2]).decode().split("\0")
                fake.auth.append((user, password))
                self.reply("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                mail_from, rcpt_to = line.split(":", 1)[1].split()[0].strip("<>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                rcpt_to.append(line.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines: list[bytes] = []
                while (chunk := self.rfile.readline()) not in {b".\r\n", b""}:
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                fake.received.append(Received(mail_from, rcpt_to, b"".join(lines)))
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    fake: FakeSmtp


@dataclass
class FakeSmtp:
    """Speaks just enough SMTP for smtplib: greeting, EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, QUIT.

    It runs in its own thread, not on the test's event loop: the test client runs the app (and so the
    sender) on a loop of its own while the test waits.
    """

    received: list[Received] = field(default_factory=list)
    auth: list[tuple[str, str]] = field(default_factory=list)
    server: _SmtpServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.server = _SmtpServer(("127.0.0.1", 0), _SmtpHandler)
        self.server.fake = self
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def url(self) -> str:
        return f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{self.port}?from=bookings@demo.test&timeout=5"


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtp]:
    server = FakeSmtp()
    server.start()
    yield server
    server.stop()


def with_smtp(settings: Settings, url: str) -> Settings:
    return dataclasses.replace(settings, smtp_url=url)


# -- helpers --------------------------------------------------------------------------------------------


async def outbox(factory: Factory) -> list[OutboxMessage]:
    async with session_scope(factory.alchemy) as session:
        with unscoped(session):
            return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)))


async def book_ann(client: Client, factory: Factory, hour: int = 9) -> dict[str, object]:
    await factory.demo()
    demo = await load_demo(client)
    response = await client.post(
        "/api/v1/practices/demo/bookings", json=booking(demo.massage, demo.therapist, at(weekday_ahead(), hour))
    )
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    created["therapist_name"] = demo.therapists[0]["name"]
    return created


def csrf_of(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, "the page carries a CSRF token"
    return match.group(1)


async def ask_for_link(client: Client, slug: str, address: str) -> str:
    form = await client.get(f"/p/{slug}/portal", headers=HTML)
    assert form.status_code == 200
    sent = await client.post(
        f"/p/{slug}/portal", data={"email": address, "_csrf_token": csrf_of(form.text)}, headers=HTML
    )
    assert sent.status_code == 200, sent.text
    return sent.text


def sign_in_path(message: OutboxMessage) -> str:
    match = re.search(r"http://testserver\.local(/p/[a-z0-9-]+/portal/sign-in/\S+)", message.body_text)
    assert match, "the e-mail carries the sign-in link"
    return match.group(1)


async def sign_in_as_owner(client: Client, factory: Factory, practice: Practice) -> None:
    owner = await factory.staff(practice, Role.OWNER)
    form = await client.get("/login", headers=HTML)
    response = await client.post(
        "/login",
        data={"email": owner.user.email, "password": PASSWORD, "_csrf_token": csrf_of(form.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303


# -- e-mails about visits -------------------------------------------------------------------------------


async def test_online_booking_queues_one_confirmation_with_manage_link_and_ics(
    client: Client, factory: Factory
) -> None:
    created = await book_ann(client, factory)
    [message] = await outbox(factory)
    assert message.kind == "booking_confirmation"
    assert message.to_address == "ann@example.test"
    assert message.sent_at is None
    body = message.body_text
    assert str(created["manage_url"]) in body
    assert "Therapeutic Massage (60 min)" in body
    assert str(created["therapist_name"]) in body
    day = weekday_ahead()
    assert f"{day:%A}, {day:%B} {day.day}, {day.year}, 9:00 AM to 10:00 AM E" in body
    assert "America/New_York" in body
    assert "120 Elm Street, Suite 4" in body
    assert "+1 718 555 0142" in body
    assert "cancel" in body
    # The labelled facts are exactly these: nothing else about the client or the visit is in the mail.
    labels = set(re.findall(r"^  ([A-Z][a-z]+):", body, flags=re.MULTILINE))
    assert labels == {"What", "With", "When", "Where", "Phone"}
    assert "+1 212 555 0100" not in body, "not even the client's own phone"
    [ics] = message.attachments
    assert ics["filename"] == "appointment.ics"
    assert ics["content_type"] == "text/calendar"
    assert "BEGIN:VCALENDAR" in ics["content"]
    assert f"UID:{created['appointment']['id']}@carebook" in ics["content"]  # type: ignore[index]


async def test_moving_and_cancelling_notify_the_client_without_health_details(client: Client, factory: Factory) -> None:
    created = await book_ann(client, factory)
    appointment_id = str(created["appointment"]["id"])  # type: ignore[index]
    async with session_scope(factory.alchemy) as session:
        with unscoped(session):
            await session.execute(
                update(Appointment).where(Appointment.id == uuid.UUID(appointment_id)).values(notes=HEALTH_NOTE)
            )
    token = str(created["manage_url"]).rsplit("/", 1)[1]
    moved = await client.post(
        f"/api/v1/practices/demo/manage/{token}/reschedule", json={"start": at(weekday_ahead(), 14)}
    )
    assert moved.status_code == 200, moved.text
    desk = await factory.staff(await _demo(factory), Role.DESK)
    cancelled = await client.post(
        f"/api/v1/appointments/{appointment_id}/cancel", json={"reason": HEALTH_REASON}, headers=desk.headers
    )
    assert cancelled.status_code == 200, cancelled.text

    messages = await outbox(factory)
    assert [m.kind for m in messages] == ["booking_confirmation", "visit_rescheduled", "visit_cancelled"]
    assert {m.to_address for m in messages} == {"ann@example.test"}
    _, rescheduled, cancellation = messages
    assert "Now:    " in rescheduled.body_text
    assert "2:00 PM to 3:00 PM" in rescheduled.body_text
    assert "Was:    " in rescheduled.body_text
    assert "9:00 AM to 10:00 AM" in rescheduled.body_text
    assert "SEQUENCE:1" in rescheduled.attachments[0]["content"]
    assert "has been cancelled" in cancellation.body_text
    assert "STATUS:CANCELLED" in cancellation.attachments[0]["content"]
    for message in messages:
        everything = message.subject + message.body_text + "".join(a["content"] for a in message.attachments)
        for secret in ("HEALTH-NOTE", "sciatica", "HEALTH-REASON", "migraine"):
            assert secret not in everything, (message.kind, secret)


def test_email_templates_see_only_client_safe_facts() -> None:
    """The read models e-mails are rendered from have no clinical fields, and no template reaches past them."""
    assert {f.name for f in dataclasses.fields(VisitFacts)} == {
        "appointment_id",
        "service_name",
        "therapist_name",
        "start",
        "end",
        "when",
        "status",
        "status_label",
        "can_change",
        "change_deadline",
        "change_deadline_text",
    }
    assert {f.name for f in dataclasses.fields(PracticeFacts)} == {
        "slug",
        "name",
        "address_lines",
        "phone",
        "email",
        "timezone",
        "cancellation_window_hours",
    }
    # A series booked or changed in bulk is told with the same facts: the series' service and therapist, and VisitFacts.
    assert {f.name for f in dataclasses.fields(SeriesChange)} == {"service_name", "therapist_name", "visits"}
    assert {f.name for f in dataclasses.fields(SeriesVisit)} == {"visit", "previous_when"}
    environment = jinja2.Environment(autoescape=False)  # noqa: S701  (parsing text templates, not rendering HTML)
    allowed = {"first_name", "practice", "visit", "manage_url", "portal_url", "previous_when", "sign_in_url"}
    allowed |= {"series"}  # a series booked or changed in bulk: SeriesChange, made of VisitFacts
    allowed |= {"expires_text", "valid_minutes", "questionnaire_url"}
    allowed |= {"amount", "pay_url"}  # billing's pay link and its deposit refunded when the time was taken
    allowed |= {"paid", "card"}  # money paid twice, refunded to the card (brand and last 4 digits only)
    # What happened to a cancelled visit's deposit (sentences billing answers), and the fee notice's amounts.
    allowed |= {"money", "fee_name", "fee", "kept", "rest", "returned"}
    # The fee notice's e-mail: what was charged or is still due, the deposit's card, and the notice's signed link.
    allowed |= {"charged", "due", "deposit_card", "number", "download_url"}
    templates = list(Path(TEMPLATES_DIR, "emails").glob("*.txt"))
    assert {t.name for t in templates} >= {"series_booked.txt", "series_rescheduled.txt", "series_cancelled.txt"}
    assert {t.name for t in templates} >= {"deposit_refunded.txt", "overpayment_refunded.txt"}
    assert {t.name for t in templates} >= {"deposit_refunded_cancelled.txt", "fee_notice.txt"}
    # An issued document's link: its kind and number, never what it says.
    allowed |= {"title", "number", "download_url", "valid_days"}
    assert "document_ready.txt" in {t.name for t in templates}
    assert len(templates) == 14
    for template in templates:
        source = template.read_text()
        assert jinja2.meta.find_undeclared_variables(environment.parse(source)) <= allowed, template.name
        expressions = " ".join(re.findall(r"{[{%](.*?)[%}]}", source))
        for word in ("notes", "reason", "intake", "plan", "birth", "client", "appointment"):
            assert word not in expressions, (template.name, word)


# -- sending --------------------------------------------------------------------------------------------


async def test_send_pending_delivers_over_smtp_and_marks_sent(
    client: Client, factory: Factory, settings: Settings, smtp_server: FakeSmtp
) -> None:
    created = await book_ann(client, factory)
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    carebook_logger = logging.getLogger("carebook")
    carebook_logger.addHandler(handler)
    try:
        report = await mail.send_pending(factory.alchemy, with_smtp(settings, smtp_server.url()))
        again = await mail.send_pending(factory.alchemy, with_smtp(settings, smtp_server.url()))
    finally:
        carebook_logger.removeHandler(handler)

    assert (report.configured, report.sent, report.failed) == (True, 1, 0)
    assert smtp_server.auth == [(SMTP_USER, SMTP_PASSWORD)]
    [received] = smtp_server.received
    assert received.mail_from == "bookings@demo.test"
    assert received.rcpt_to == ["ann@example.test"]
    message = received.message
    assert message["To"] == "ann@example.test"
    assert message["Subject"].startswith("Booked: Therapeutic Massage (60 min)")
    assert "bookings@demo.test" in message["From"]
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert str(created["manage_url"]) in text.get_content()
    [ics] = list(message.iter_attachments())
    assert ics.get_content_type() == "text/calendar"
    assert ics.get_filename() == "appointment.ics"
    [row] = await outbox(factory)
    assert row.sent_at is not None
    assert (row.attempts, row.last_error) == (1, "")
    # Nothing is sent twice, and nothing about the mail's people or secrets reaches the logs.
    assert (again.sent, again.failed) == (0, 0)
    assert len(smtp_server.received) == 1
    logged = log.getvalue()
    assert "1 sent" in logged
    for secret in ("ann@example.test", SMTP_PASSWORD, "manage/", "Therapeutic"):
        assert secret not in logged


async def test_a_failed_delivery_is_counted_and_retried_later(
    client: Client, factory: Factory, settings: Settings
) -> None:
    await book_ann(client, factory)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = with_smtp(settings, f"smtp://127.0.0.1:{port}?timeout=2")

    report = await mail.send_pending(factory.alchemy, dead)

    assert (report.sent, report.failed) == (0, 1)
    [row] = await outbox(factory)
    assert row.sent_at is None
    assert row.attempts == 1
    assert row.last_error.startswith("ConnectionRefusedError")
    assert "ann@" not in row.last_error
    # Not hammered: the next sweep within the retry delay leaves it alone.
    soon = await mail.send_pending(factory.alchemy, dead)
    assert (soon.sent, soon.failed) == (0, 0)


async def test_app_flushes_the_outbox_right_after_the_response(
    factory: Factory, settings: Settings, smtp_server: FakeSmtp
) -> None:
    app = create_app(with_smtp(settings, smtp_server.url()))
    try:
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
            created = await book_ann(client, factory)
        [received] = smtp_server.received
        assert str(created["manage_url"]) in received.data.decode()
        [row] = await outbox(factory)
        assert row.sent_at is not None
    finally:
        await app.state.alchemy.get_engine().dispose()


async def test_without_smtp_mail_stays_in_the_outbox_for_the_owner_to_read(
    client: Client, factory: Factory, settings: Settings
) -> None:
    created = await book_ann(client, factory)
    report = await mail.send_pending(factory.alchemy, settings)
    assert report == mail.SendReport(configured=False)
    [row] = await outbox(factory)
    assert (row.sent_at, row.attempts) == (None, 0)

    await sign_in_as_owner(client, factory, await _demo(factory))
    listing = await client.get("/staff/outbox", headers=HTML)
    assert listing.status_code == 200
    assert "ann@example.test" in listing.text
    assert "Booked: Therapeutic Massage (60 min)" in listing.text
    assert "waiting" in listing.text
    assert 'href="/staff/outbox"' in listing.text, "owners get the Outbox link"
    created_at = row.created_at.astimezone(NEW_YORK)
    stamp = f"{created_at:%b} {created_at.day}, {created_at.year}, {created_at.hour % 12 or 12}:{created_at:%M %p}"
    assert f"Created {stamp} ·" in listing.text
    detail = await client.get(f"/staff/outbox/{row.id}", headers=HTML)
    assert detail.status_code == 200
    assert f"<dd>{stamp} {created_at:%Z}</dd>" in detail.text
    assert str(created["manage_url"]) in detail.text
    assert "appointment.ics" in detail.text


async def test_only_owners_read_the_outbox(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    desk = await factory.staff(practice, Role.DESK)
    form = await client.get("/login", headers=HTML)
    await client.post(
        "/login", data={"email": desk.user.email, "password": PASSWORD, "_csrf_token": csrf_of(form.text)}, headers=HTML
    )
    refused = await client.get("/staff/outbox", headers=HTML)
    assert refused.status_code == 403
    home = await client.get("/staff", headers=HTML)
    assert 'href="/staff/outbox"' not in home.text


async def test_outbox_send_command_without_smtp_says_mail_stays(
    client: Client, factory: Factory, database_url: str, tmp_path: Path
) -> None:
    await book_ann(client, factory)
    result = carebook(database_url, tmp_path, "outbox", "send")
    assert result.returncode == 0, result.stderr
    assert "CAREBOOK_SMTP_URL is not set" in result.stdout
    assert "1 message(s) wait" in result.stdout
    [row] = await outbox(factory)
    assert row.sent_at is None


# -- the client portal ----------------------------------------------------------------------------------


async def test_client_signs_in_with_a_one_time_link_and_sees_their_visits(client: Client, factory: Factory) -> None:
    created = await book_ann(client, factory)
    appointment_id = created["appointment"]["id"]  # type: ignore[index]

    page = await ask_for_link(client, "demo", "Ann@Example.test")
    assert "If we know this address, we've sent a link" in page
    link = await outbox(factory)
    assert [m.kind for m in link] == ["booking_confirmation", "portal_link"]
    assert link[1].to_address == "ann@example.test"
    path = sign_in_path(link[1])

    signed_in = await follow_sign_in_link(client, path)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/p/demo/portal/home"
    home = await client.get("/p/demo/portal/home", headers=HTML)
    assert home.status_code == 200
    assert "Hello, Ann" in home.text
    assert "Therapeutic Massage (60 min)" in home.text
    assert "9:00 AM to 10:00 AM" in home.text
    assert f"/p/demo/portal/appointments/{appointment_id}" in home.text
    visit = await client.get(f"/p/demo/portal/appointments/{appointment_id}", headers=HTML)
    assert visit.status_code == 200
    assert "Cancel my visit" in visit.text

    reused = await client.get(path, headers=HTML, follow_redirects=False)
    assert reused.status_code == 410
    assert "expired" in reused.text
    assert 'name="email"' in reused.text, "with a form to ask for a new link"
    assert "Sign in</button>" not in reused.text

    await ask_for_link(client, "demo", "ann@example.test")
    fresh = sign_in_path((await outbox(factory))[-1])
    async with session_scope(factory.alchemy) as session:
        with unscoped(session):
            await session.execute(
                update(ClientSignInLink)
                .where(ClientSignInLink.used_at.is_(None))
                .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
            )
    expired = await client.get(fresh, headers=HTML, follow_redirects=False)
    assert expired.status_code == 410
    assert "Sign in</button>" not in expired.text
    confirmed_late = await client.post(
        fresh, data={"_csrf_token": csrf_of(home.text)}, headers=HTML, follow_redirects=False
    )
    assert confirmed_late.status_code == 410
    assert "expired" in confirmed_late.text

    signed_out = await client.post(
        "/p/demo/portal/sign-out", data={"_csrf_token": csrf_of(home.text)}, headers=HTML, follow_redirects=False
    )
    assert signed_out.status_code == 303
    after = await client.get("/p/demo/portal/home", headers=HTML, follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"] == "/p/demo/portal"


async def test_a_mail_scanner_opening_the_link_neither_signs_in_nor_spends_it(client: Client, factory: Factory) -> None:
    await book_ann(client, factory)
    await ask_for_link(client, "demo", "ann@example.test")
    path = sign_in_path((await outbox(factory))[-1])

    # Safe Links, Mimecast and link previews fetch the URL, sometimes more than once, before the client clicks.
    for _ in range(3):
        scanned = await client.get(path, headers=HTML, follow_redirects=False)
        assert scanned.status_code == 200
        assert "Sign in</button>" in scanned.text
        assert "Ann" not in scanned.text, "the page names no one to whoever holds the link"
    still_out = await client.get("/p/demo/portal/home", headers=HTML, follow_redirects=False)
    assert still_out.status_code == 303
    assert still_out.headers["location"] == "/p/demo/portal"

    signed_in = await client.post(
        path, data={"_csrf_token": csrf_of(scanned.text)}, headers=HTML, follow_redirects=False
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/p/demo/portal/home"
    home = await client.get("/p/demo/portal/home", headers=HTML)
    assert home.status_code == 200
    assert "Hello, Ann" in home.text


async def test_a_link_confirmed_twice_shows_the_expired_page_and_signs_no_one_in(
    client: Client, factory: Factory
) -> None:
    await book_ann(client, factory)
    await ask_for_link(client, "demo", "ann@example.test")
    path = sign_in_path((await outbox(factory))[-1])
    assert (await follow_sign_in_link(client, path)).status_code == 303
    home = await client.get("/p/demo/portal/home", headers=HTML)
    signed_out = await client.post(
        "/p/demo/portal/sign-out", data={"_csrf_token": csrf_of(home.text)}, headers=HTML, follow_redirects=False
    )
    assert signed_out.status_code == 303

    again = await client.post(path, data={"_csrf_token": csrf_of(home.text)}, headers=HTML, follow_redirects=False)
    assert again.status_code == 410
    assert "This link has expired" in again.text
    assert "expired or was already used" in again.text
    assert 'name="email"' in again.text, "with a form to ask for a new link"
    after = await client.get("/p/demo/portal/home", headers=HTML, follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"] == "/p/demo/portal"


async def test_the_link_page_is_a_sign_in_button_that_posts_to_the_same_link(client: Client, factory: Factory) -> None:
    await book_ann(client, factory)
    await ask_for_link(client, "demo", "ann@example.test")
    path = sign_in_path((await outbox(factory))[-1])

    page = await client.get(path, headers=HTML, follow_redirects=False)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    forms = re.findall(r"<form\b[^>]*>.*?</form>", page.text, flags=re.DOTALL)
    [confirm] = [f for f in forms if "Sign in</button>" in f]
    assert re.search(rf'method="post"[^>]*action="{re.escape(path)}"', confirm), confirm
    assert 'name="_csrf_token"' in confirm
    assert 'type="submit"' in confirm
    assert "Continue to your visits" in page.text
    assert "<h1>Demo Massage &amp; Bodywork</h1>" in page.text
    assert 'name="viewport"' in page.text


async def test_unknown_address_gets_the_same_answer_and_no_mail(client: Client, factory: Factory) -> None:
    await book_ann(client, factory)
    known = await ask_for_link(client, "demo", "ann@example.test")
    unknown = await ask_for_link(client, "demo", "nobody@example.test")
    assert known.replace("ann@example.test", "X") == unknown.replace("nobody@example.test", "X")
    assert [m.to_address for m in await outbox(factory)] == ["ann@example.test", "ann@example.test"]


async def test_links_per_address_are_limited(client: Client, factory: Factory) -> None:
    await book_ann(client, factory)
    for _ in range(5):
        await ask_for_link(client, "demo", "nobody@example.test")
    form = await client.get("/p/demo/portal", headers=HTML)
    sixth = await client.post(
        "/p/demo/portal", data={"email": "nobody@example.test", "_csrf_token": csrf_of(form.text)}, headers=HTML
    )
    assert sixth.status_code == 429
    assert "several links" in sixth.text


async def test_client_moves_and_cancels_from_the_portal_within_the_rules(client: Client, factory: Factory) -> None:
    created = await book_ann(client, factory)
    appointment_id = created["appointment"]["id"]  # type: ignore[index]
    await ask_for_link(client, "demo", "ann@example.test")
    assert (await follow_sign_in_link(client, sign_in_path((await outbox(factory))[-1]))).status_code == 303
    page_path = f"/p/demo/portal/appointments/{appointment_id}"
    day = weekday_ahead()

    slots = await client.get(page_path, params={"date": day.isoformat()}, headers=HTML)
    assert slots.status_code == 200
    new_start = at(day, 14)
    assert f'<option value="{new_start}">2:00 PM</option>' in slots.text
    assert f"on {day:%A}, {day:%B} {day.day}, {day.year}</label>" in slots.text
    moved = await client.post(
        f"{page_path}/reschedule",
        data={"start": new_start, "_csrf_token": csrf_of(slots.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert moved.status_code == 303, moved.text
    shown = await client.get(moved.headers["location"], headers=HTML)
    assert "Your visit has moved" in shown.text
    assert "2:00 PM to 3:00 PM" in shown.text

    async with session_scope(factory.alchemy) as session:
        await session.execute(update(Practice).where(Practice.slug == "demo").values(cancellation_window_hours=24 * 60))
    too_late = await client.get(page_path, headers=HTML)
    assert "too close to change online" in too_late.text
    assert "Cancel my visit" not in too_late.text
    refused = await client.post(f"{page_path}/cancel", data={"_csrf_token": csrf_of(too_late.text)}, headers=HTML)
    assert refused.status_code == 422
    assert "+1 718 555 0142" in refused.text

    async with session_scope(factory.alchemy) as session:
        await session.execute(update(Practice).where(Practice.slug == "demo").values(cancellation_window_hours=24))
    cancelled = await client.post(
        f"{page_path}/cancel", data={"_csrf_token": csrf_of(too_late.text)}, headers=HTML, follow_redirects=False
    )
    assert cancelled.status_code == 303
    assert "Cancelled" in (await client.get(page_path, headers=HTML)).text
    kinds = [m.kind for m in await outbox(factory)]
    assert kinds == ["booking_confirmation", "portal_link", "visit_rescheduled", "visit_cancelled"]


async def test_a_client_of_another_practice_sees_nothing_of_this_one(
    client: Client, factory: Factory, settings: Settings
) -> None:
    created = await book_ann(client, factory)
    ann_visit = created["appointment"]["id"]  # type: ignore[index]
    elsewhere = await factory.practice("elsewhere")
    async with session_scope(factory.alchemy) as session:
        scope_session(session, elsewhere.id)
        await client_services.create_client(session, ClientDetails("Bob", "Stone", "bob@example.test"))

    # Bob uses his own browser (and, as a test client runs its own event loop, his own app instance).
    bobs_app = create_app(settings)
    try:
        async with AsyncTestClient(app=bobs_app, base_url="http://testserver.local") as bob:
            await ask_for_link(bob, "elsewhere", "bob@example.test")
            bobs_link = sign_in_path((await outbox(factory))[-1])
            assert bobs_link.startswith("/p/elsewhere/")
            # Another practice's link is no key to this one.
            wrong_door = bobs_link.replace("/p/elsewhere/", "/p/demo/")
            assert (await bob.get(wrong_door, headers=HTML, follow_redirects=False)).status_code == 410
            start = await bob.get("/p/demo/portal", headers=HTML)
            knocked = await bob.post(
                wrong_door, data={"_csrf_token": csrf_of(start.text)}, headers=HTML, follow_redirects=False
            )
            assert knocked.status_code == 410
            assert (await follow_sign_in_link(bob, bobs_link)).status_code == 303
            assert "Hello, Bob" in (await bob.get("/p/elsewhere/portal/home", headers=HTML)).text

            for path in ("/p/demo/portal/home", f"/p/demo/portal/appointments/{ann_visit}"):
                response = await bob.get(path, headers=HTML, follow_redirects=False)
                assert response.status_code == 303, path
                assert response.headers["location"] == "/p/demo/portal"
            foreign = await bob.get(f"/p/elsewhere/portal/appointments/{ann_visit}", headers=HTML)
            assert foreign.status_code == 404
            assert "Therapeutic" not in foreign.text
            ics = await bob.get(f"/p/elsewhere/portal/appointments/{ann_visit}/calendar.ics", headers=HTML)
            assert ics.status_code == 404
    finally:
        await bobs_app.state.alchemy.get_engine().dispose()


async def _demo(factory: Factory) -> Practice:
    async with session_scope(factory.alchemy) as session:
        found = await session.scalar(select(Practice).where(Practice.slug == "demo"))
        assert found is not None
        return found
