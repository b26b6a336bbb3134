"""Helpers for the clinical tests: sign-in, page forms with CSRF, a client, their intake by link."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.integration.conftest import PASSWORD, Staff

Client = AsyncTestClient[Litestar]
HTML = {"accept": "text/html"}
CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page carries a CSRF token"
    return match.group(1)


async def sign_in(client: Client, email: str) -> None:
    page = await client.get("/login", headers=HTML)
    response = await client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "_csrf_token": csrf(page.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


async def post_form(client: Client, path: str, data: dict[str, Any] | None = None, *, csrf_from: str) -> Any:
    """Post a page form the way a browser does: with the CSRF token of the page it sits on."""
    page = await client.get(csrf_from, headers=HTML)
    assert page.status_code == 200, page.text
    return await client.post(
        path, data={**(data or {}), "_csrf_token": csrf(page.text)}, headers=HTML, follow_redirects=False
    )


async def new_client(client: Client, staff: Staff, first: str = "Kim", last: str = "Park") -> str:
    created = await client.post(
        "/api/v1/clients",
        json={"first_name": first, "last_name": last, "email": f"{first.lower()}@example.test", "phone": "2125550199"},
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def intake_link(client: Client, staff: Staff, client_id: str, *, send_email: bool = False) -> str:
    """The path (no host) of a fresh intake link for the client."""
    issued = await client.post(
        f"/api/v1/clients/{client_id}/intake-link", json={"send_email": send_email}, headers=staff.headers
    )
    assert issued.status_code == 201, issued.text
    url = str(issued.json()["url"])
    return url[url.index("/p/") :]


def intake_answers(**overrides: Any) -> dict[str, Any]:
    """A filled questionnaire as the form posts it: blood thinners, surgery two months ago, back pain 7."""
    recent = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=60)).isoformat()
    answers: dict[str, Any] = {
        "current_health_issues": "HEALTH-LOW-BACK chronic low back pain",
        "past_health_issues": "Whiplash in 2019",
        "conditions": ["high_blood_pressure"],
        "medications": "HEALTH-MED warfarin 5 mg",
        "takes_blood_thinners": "on",
        "surgeries_and_injuries": "Knee arthroscopy",
        "last_surgery_on": recent,
        "allergies": "Nut oils",
        "pain_area_0": "Lower back",
        "pain_intensity_0": "7",
        "pain_area_1": "Neck",
        "pain_intensity_1": "4",
        "goals": "Sit through a work day",
        "consent": "on",
    }
    answers.update(overrides)
    return {k: v for k, v in answers.items() if v is not None}


async def fill_intake(client: Client, link_path: str, **overrides: Any) -> Any:
    return await post_form(client, link_path, intake_answers(**overrides), csrf_from=link_path)
