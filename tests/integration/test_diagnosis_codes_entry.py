"""Diagnosis codes are checked against the ICD-10-CM code set where they are entered: the plan API and the
therapist's plan form. A retired, made-up or heading code is refused naming it; nothing is written."""

from __future__ import annotations

import pytest

from scheduler.practice.models import Role
from tests.integration.booking_helpers import Client, load_demo, weekday_ahead
from tests.integration.clinical_helpers import HTML, post_form, sign_in
from tests.integration.clinical_helpers import new_client as new_client_page
from tests.integration.conftest import Factory
from tests.integration.test_clinical_pages import plan_form
from tests.integration.test_series import new_client, plan_body


@pytest.mark.parametrize(
    ("codes", "field", "named", "replacements"),
    [
        (["M54.5"], "diagnosis_codes[0]", "M54.5", ["M54.50", "M54.51", "M54.59"]),
        (["M62.830", "Z99.999"], "diagnosis_codes[1]", "Z99.999", []),
        (
            ["m54"],
            "diagnosis_codes[0]",
            "M54",
            ["M54.0", "M54.1", "M54.2", "M54.3", "M54.4", "M54.5", "M54.6", "M54.8", "M54.9"],
        ),
    ],
)
async def test_a_plan_with_a_code_insurers_reject_gets_422_naming_it(
    client: Client, factory: Factory, codes: list[str], field: str, named: str, replacements: list[str]
) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    client_id = await new_client(client, owner.headers, "codes@example.test")
    body = plan_body(demo, client_id, weekday_ahead(14, 1), {"diagnosis_codes": codes})
    refused = await client.post("/api/v1/treatment-plans", json=body, headers=owner.headers)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert (problem["code"], problem["field"], problem["diagnosis_code"]) == ("diagnosis_code_refused", field, named)
    assert named in problem["detail"]
    assert problem["replacements"] == replacements
    listed = await client.get(f"/api/v1/treatment-plans?client_id={client_id}", headers=owner.headers)
    assert listed.json()["items"] == []  # nothing half-written


async def test_m54_50_is_accepted_and_a_later_edit_to_m54_5_is_refused(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    owner = await factory.staff(practice, Role.OWNER)
    demo = await load_demo(client)
    client_id = await new_client(client, owner.headers, "ok@example.test")
    body = plan_body(demo, client_id, weekday_ahead(14, 1), {"diagnosis_codes": ["m5450", "M62.830"]})
    created = await client.post("/api/v1/treatment-plans", json=body, headers=owner.headers)
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["diagnosis_codes"] == ["M54.50", "M62.830"]
    edit = await client.patch(
        f"/api/v1/treatment-plans/{plan['id']}", json={"diagnosis_codes": ["M54.5"]}, headers=owner.headers
    )
    assert edit.status_code == 422, edit.text
    assert edit.json()["diagnosis_code"] == "M54.5"
    again = await client.get(f"/api/v1/treatment-plans/{plan['id']}", headers=owner.headers)
    assert again.json()["diagnosis_codes"] == ["M54.50", "M62.830"]


async def test_the_plan_form_refuses_a_retired_code_with_its_replacements(client: Client, factory: Factory) -> None:
    practice = await factory.demo()
    demo = await load_demo(client)
    desk = await factory.staff(practice, Role.DESK)
    kim = await new_client_page(client, desk, "Kim")
    await sign_in(client, "maya@demo.test")
    refused = await post_form(
        client,
        f"/staff/clients/{kim}/plans",
        plan_form(demo.therapist, demo.massage, weekday_ahead(8, weekday=1), diagnosis_codes="M62.830, M54.5"),
        csrf_from=f"/staff/clients/{kim}/health",
    )
    assert refused.status_code == 422
    assert "M54.5 is a heading, not a billable ICD-10-CM code: use one of M54.50, M54.51, M54.59." in refused.text
    health = await client.get(f"/staff/clients/{kim}/health", headers=HTML)
    assert "/staff/plans/" not in health.text  # no plan was written
