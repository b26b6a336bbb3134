"""Year-end statements: only for a year that has started and holds eligible care (else a 404 with a sentence,
never a numbered empty document), and each line says what an FSA administrator checks — the therapist's
licence and NPI, minutes, CPT units, the plan's ICD-10 codes, and whether the LMN covered the visit."""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from billing.documents import services
from billing.documents.models import IssuedDocument
from scheduler.db import scope_session, session_scope
from scheduler.practice.models import Practice
from tests.integration.conftest import Factory, Staff
from tests.integration.documents_helpers import VISIT_DAY, Clinic, clinic, sign_in_link, visit_charges
from tests.integration.portal_helpers import follow_sign_in_link

HttpClient = AsyncTestClient[Litestar]
BEFORE_THE_LMN = dt.date(2026, 1, 8)  # the sample LMN was signed Jan 15, 2026 and runs to Jan 14, 2027


async def _receipt(factory: Factory, place: Clinic, day: dt.date = VISIT_DAY) -> IssuedDocument:
    async with session_scope(factory.alchemy) as session:
        scope_session(session, place.practice.id)
        practice = await session.get_one(Practice, place.practice.id)
        return await services.issue_for_invoice(session, practice, visit_charges(place, day=day))


async def _listed(client: HttpClient, place: Clinic, staff: Staff) -> list[str]:
    listed = await client.get(f"/api/v1/clients/{place.client.id}/documents", headers=staff.headers)
    return [d["number"] for d in listed.json()["items"]]


def _pdftotext(pdf: bytes) -> str:
    """The PDF's text as pdftotext reads it, whitespace collapsed (a cell may wrap over lines)."""
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize(
    ("year", "sentence"),
    [
        (dt.datetime.now(dt.UTC).year + 1, "that year has not started yet"),
        (2025, "there is nothing to put on a statement"),
        (1901, "there is nothing to put on a statement"),
    ],
    ids=["next_year", "empty_past_year", "1901"],
)
async def test_a_statement_for_a_year_to_come_or_without_eligible_care_is_404_and_numbers_nothing(
    client: HttpClient, factory: Factory, year: int, sentence: str
) -> None:
    place = await clinic(factory)
    staff = await factory.staff(place.practice)
    await _receipt(factory, place)  # care in 2026 only

    refused = await client.get(f"/api/v1/clients/{place.client.id}/statements/{year}.pdf", headers=staff.headers)

    assert refused.status_code == 404
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["field"] == "year"
    assert problem["detail"].startswith(f"No FSA-eligible visits in {year}")
    assert sentence in problem["detail"]
    assert await _listed(client, place, staff) == ["R-000001"], "no statement number was used"
    # The year with care still gets the first statement number.
    issued = await client.get(f"/api/v1/clients/{place.client.id}/statements/2026.pdf", headers=staff.headers)
    assert (issued.status_code, issued.headers["x-document-number"]) == (200, "ST-000001")


async def test_the_portal_offers_only_years_with_care_and_refuses_the_others(
    client: HttpClient, factory: Factory
) -> None:
    place = await clinic(factory)
    await follow_sign_in_link(client, await sign_in_link(factory, place))
    portal = f"/p/{place.practice.slug}/portal/documents"
    empty = await client.get(f"{portal}/")
    assert "No statements yet" in empty.text
    assert "/statements/" not in empty.text

    await _receipt(factory, place)
    page = await client.get(f"{portal}/")
    assert re.findall(r"/statements/(\d{4})\.pdf", page.text) == ["2026"]
    this_year = dt.datetime.now(dt.UTC).year
    for year in (this_year + 1, 2025):
        refused = await client.get(f"{portal}/statements/{year}.pdf")
        assert refused.status_code == 404, year
        assert f"No FSA-eligible visits in {year}" in refused.text


async def test_statement_prints_licence_npi_minutes_units_icd10_and_marks_a_visit_outside_the_lmn(
    client: HttpClient, factory: Factory
) -> None:
    place = await clinic(factory)
    staff = await factory.staff(place.practice)
    await _receipt(factory, place, BEFORE_THE_LMN)
    await _receipt(factory, place, VISIT_DAY)

    statement = await client.get(f"/api/v1/clients/{place.client.id}/statements/2026.pdf", headers=staff.headers)

    assert statement.status_code == 200, statement.text
    text = _pdftotext(statement.content)
    assert "Sam Rivera, LMT MA MT-20417 1987654321" in text  # therapist, state licence, NPI: once, in a block
    assert text.count("MT-20417") == 1
    # Each visit: minutes 60, CPT 97124, 4 units (8-minute rule), the plan's ICD-10 codes.
    assert text.count("60 97124 4 M54.50, M62.830") == 2
    assert "Outside the LMN's window (signed Jan 15, 2026, valid to Jan 14, 2027)" in text
    assert text.count("Outside the LMN's window") == 1, "the visit inside the window is not marked"
    jan, mar = text.index("Jan 8, 2026"), text.index("Mar 2, 2026")
    assert jan < text.index("Outside the LMN's window") < mar, "the mark sits on the January visit"
