"""Receipt PDFs: the rendering right after the issuing commit (what the app does after the response) against
WeasyPrint rendering the same HTML alone with fonts warm; the first download of a receipt (already rendered at
issue) against a re-download; and the re-download of stored bytes against one plain SELECT of them. All on a
pooled engine, as the app's requests run."""

from __future__ import annotations

import gc
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from weasyprint import HTML

from bench.harness import Result, latency_target, paired_median_ms, settle
from billing.documents import rendering, services
from billing.documents.models import DocumentRendition, IssuedDocument
from billing.documents.render import render_html
from billing.documents.render_queue import take_committed
from billing.documents.samples import LMN
from billing.documents.services import VisitCharges
from billing.documents.snapshot import DocumentLine, LineKind, Tender
from scheduler.clients.models import Client
from scheduler.db import build_alchemy_config, scope_session, session_scope
from scheduler.practice import services as practice_services
from scheduler.practice.models import Therapist
from scheduler.settings import TEMPLATES_DIR, Settings

RUNS = 21
WARMUP = 3
DOWNLOAD_RUNS = 41  # first downloads, each of a receipt rendered at issue and never downloaded before


async def alternating_median_ms(
    ours: Callable[[], Awaitable[object]],
    floor: Callable[[], Awaitable[object]],
    runs: int,
    warmup: int,
    *,
    collect: bool = True,
) -> tuple[float, float]:
    """Like `paired_median_ms`, but which side goes first alternates and garbage is collected before each
    sample: a PDF rendering leaves enough garbage that whichever runs second would pay for the first."""
    for _ in range(warmup):
        await ours()
        await floor()
    samples: dict[str, list[float]] = {"ours": [], "floor": []}
    for run in range(runs):
        order = [("ours", ours), ("floor", floor)]
        for name, work in order if run % 2 == 0 else order[::-1]:
            if collect:
                gc.collect()
            started = time.perf_counter()
            await work()
            samples[name].append((time.perf_counter() - started) * 1000)
    return statistics.median(samples["ours"]), statistics.median(samples["floor"])


def _charges(client: Client, therapist: Therapist) -> VisitCharges:
    day = LMN.signed_on.replace(month=3, day=2)
    lines = (
        DocumentLine(
            service_date=day,
            description="Therapeutic massage, 60 min",
            amount=120_00,
            minutes=60,
            cpt_code="97124",
            diagnosis_codes=("M54.50", "M62.830"),
        ),
        DocumentLine(service_date=day, description="Gratuity", amount=25_00, kind=LineKind.TIP),
        DocumentLine(service_date=day, description="Arnica massage lotion", amount=18_00, kind=LineKind.RETAIL),
    )
    return VisitCharges(
        invoice_id=uuid.uuid4(),
        client=client,
        therapist=therapist,
        lines=lines,
        tenders=(Tender(method="card", amount=163_00, card_brand="visa", card_last4="4242"),),
        lmn=(LMN,),
    )


async def run(settings: Settings, label: str) -> list[Result]:
    config = build_alchemy_config(settings, pooled=False)
    count = RUNS + WARMUP + DOWNLOAD_RUNS + WARMUP + 1
    async with session_scope(config) as session:
        practice = await practice_services.create_practice(
            session,
            slug=f"bench-{uuid.uuid4().hex[:6]}",
            name="Harbor Therapeutic Massage",
            timezone="America/New_York",
        )
        practice.address_line1, practice.city, practice.region, practice.postal_code = (
            "120 Atlantic Avenue",
            "Boston",
            "MA",
            "02110",
        )
        practice.phone, practice.ein, practice.npi = "(617) 555-0142", "12-3456789", "1234567893"
        scope_session(session, practice.id)
        therapist = Therapist(
            first_name="Sam", last_name="Rivera", credential="LMT", license_number="MT-1", license_state="MA"
        )
        client = Client(first_name="Ada", last_name="Lovelace", email="ada@example.test")
        session.add_all([therapist, client])
        await session.flush()
        documents = [
            await services.issue_for_invoice(session, practice, _charges(client, therapist)) for _ in range(count)
        ]
    practice_id = practice.id
    await config.get_engine().dispose()
    await settle(settings.database_url)
    # Downloads run on a pooled engine, as the app's requests do (a new connection per download would
    # add PostgreSQL's connection set-up, ~10 ms here, which no request of the app pays).
    config = build_alchemy_config(settings)
    notes = take_committed()  # what the app renders after the response of the request that issued them
    assert len(notes) == count, "every issued receipt is queued for rendering once its transaction committed"
    html = render_html(
        documents[0].snapshot,
        number=documents[0].number,
        issued_on=documents[0].issued_on,
        page_size=documents[0].page_size,
    )

    async def render_at_issue() -> None:
        assert await rendering.render_one(config, notes.pop())

    async def weasyprint_alone() -> None:
        HTML(string=html, base_url=str(TEMPLATES_DIR)).write_pdf()

    render_ms, render_floor_ms = await alternating_median_ms(
        render_at_issue, weasyprint_alone, runs=RUNS, warmup=WARMUP
    )
    while notes:  # the rest, untimed: each download below is a first download of a receipt rendered at issue
        assert await rendering.render_one(config, notes.pop())

    pending = list(documents[1:])
    stored = documents[0]

    async def first_download() -> None:
        document = pending.pop()
        async with config.get_session() as session:
            scope_session(session, practice_id)
            await services.open_document(session, document.id)

    async def redownload() -> None:
        async with config.get_session() as session:
            scope_session(session, practice_id)
            await services.open_document(session, stored.id)

    async def select_bytes() -> None:
        async with config.get_session() as session:
            scope_session(session, practice_id)
            await session.scalar(select(DocumentRendition.pdf).where(DocumentRendition.document_id == stored.id))

    cached_ms, cached_floor_ms = await paired_median_ms(redownload, select_bytes, runs=41)

    first_ms, first_floor_ms = await alternating_median_ms(
        first_download, redownload, runs=DOWNLOAD_RUNS, warmup=WARMUP, collect=False
    )
    await config.get_engine().dispose()
    assert (await _count(settings, practice_id)) == count
    return [
        Result(
            workload=f"{label}: receipt PDF, rendered after the issuing commit",
            ours_ms=render_ms,
            floor_ms=render_floor_ms,
            floor="WeasyPrint write_pdf() of the same HTML, fonts warm",
            target_ratio=1.2,
        ),
        Result(
            workload=f"{label}: receipt PDF, first download",
            ours_ms=first_ms,
            floor_ms=first_floor_ms,
            floor="a re-download of a receipt downloaded before",
            target_ratio=1.2,
        ),
        Result(
            workload=f"{label}: receipt PDF, re-download (stored bytes)",
            ours_ms=cached_ms,
            floor_ms=cached_floor_ms,
            floor="one SELECT of the stored PDF bytes by document id",
            target_ratio=3.0,
            target_ms=latency_target(label, 5.0),
        ),
    ]


async def _count(settings: Settings, practice_id: uuid.UUID) -> int:
    config = build_alchemy_config(settings, pooled=False)
    try:
        async with config.get_session() as session:
            scope_session(session, practice_id)
            return len(list(await session.scalars(select(IssuedDocument.id))))
    finally:
        await config.get_engine().dispose()
