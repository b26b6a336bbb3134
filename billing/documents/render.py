"""Documents to PDF: Jinja2 templates in templates/documents/ rendered by WeasyPrint with DejaVu fonts embedded.

Each document is rendered once (right after it is issued, see `rendering`) and stored; later downloads serve the stored
bytes. Pure with respect to the database and the web framework: a snapshot and a number in, PDF bytes out.
"""

from __future__ import annotations

import datetime as dt
import threading
from functools import cache

import anyio.to_thread
import jinja2
import msgspec
from markupsafe import Markup
from weasyprint import HTML

from billing.documents.snapshot import DocumentKind, DocumentSnapshot
from scheduler.format import format_money
from scheduler.settings import TEMPLATES_DIR

PAGE_SIZES = {"letter": "Letter", "a4": "A4"}
# Countries that print on US Letter; everyone else gets A4.
LETTER_COUNTRIES = frozenset({"US", "CA", "MX", "PH", "CL", "CO", "VE", "GT", "CR", "PR"})
TEMPLATE_FOR = {
    DocumentKind.RECEIPT: "documents/receipt.html",
    DocumentKind.CREDIT_NOTE: "documents/credit_note.html",
    DocumentKind.PAYMENT_ACK: "documents/payment_ack.html",
    DocumentKind.STATEMENT: "documents/statement.html",
    DocumentKind.SUPERBILL: "documents/superbill.html",
    DocumentKind.CLAIM_PACKET: "documents/claim_packet.html",
    DocumentKind.FEE_NOTICE: "documents/fee_notice.html",
}


def page_size_for(country: str, setting: object = None) -> str:
    """The practice's paper ('Letter' or 'A4'): its own setting when valid, else by country."""
    if isinstance(setting, str) and setting.lower() in PAGE_SIZES:
        return PAGE_SIZES[setting.lower()]
    return "Letter" if country.upper() in LETTER_COUNTRIES else "A4"


def _date(day: dt.date | None) -> str:
    if day is None:
        return ""
    return f"{day:%b} {day.day}, {day.year}"


def _css_string(text: str) -> Markup:
    """Text for a CSS string inside <style> (page footers): HTML escaping does not apply there, so
    anything that could end the string or the style element is written as a CSS escape instead."""
    escaped = "".join(f"\\{ord(c):X} " if c in "\\\"'<>&" or ord(c) < 32 else c for c in text)
    return Markup(escaped)  # noqa: S704  (every character that could break out is escaped above)


def _short_date(day: dt.date) -> str:
    return f"{day:%m/%d/%Y}"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date"] = _date
    env.filters["mmddyyyy"] = _short_date
    env.filters["css_string"] = _css_string
    env.filters["from_json"] = msgspec.json.decode
    env.filters["isodate"] = dt.date.fromisoformat  # a date kept as ISO text in `extra`; print it with `| date`
    return env


def render_html(
    snapshot: DocumentSnapshot,
    *,
    number: str,
    issued_on: dt.date,
    page_size: str,
    copy: bool = False,
) -> str:
    def money(minor: int) -> str:
        return format_money(minor, snapshot.currency)

    template = _environment().get_template(TEMPLATE_FOR[snapshot.kind])
    return template.render(
        doc=snapshot,
        number=number,
        issued_on=issued_on,
        page_size=page_size,
        copy=copy,
        money=money,
    )


def html_to_pdf(html: str) -> bytes:
    pdf: bytes | None = HTML(string=html, base_url=str(TEMPLATES_DIR)).write_pdf()
    if pdf is None:  # only when a target is given
        msg = "WeasyPrint returned no PDF"
        raise RuntimeError(msg)
    return pdf


def render_pdf(
    snapshot: DocumentSnapshot,
    *,
    number: str,
    issued_on: dt.date,
    page_size: str,
    copy: bool = False,
) -> bytes:
    return html_to_pdf(render_html(snapshot, number=number, issued_on=issued_on, page_size=page_size, copy=copy))


_render_lock = threading.Lock()


async def render_pdf_off_loop(
    snapshot: DocumentSnapshot,
    *,
    number: str,
    issued_on: dt.date,
    page_size: str,
    copy: bool = False,
) -> bytes:
    """`render_pdf` on a worker thread, so the event loop keeps serving while a document is laid out.

    One rendering at a time per process: WeasyPrint's font machinery (fontconfig, Pango) is not promised
    to be safe across threads, and a second concurrent rendering would only compete for the same CPU.
    """

    def work() -> bytes:
        with _render_lock:
            return render_pdf(snapshot, number=number, issued_on=issued_on, page_size=page_size, copy=copy)

    return await anyio.to_thread.run_sync(work)
