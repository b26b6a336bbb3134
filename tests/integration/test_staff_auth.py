"""Staff sign-in and API tokens: who gets in, who is throttled, and what is never written down."""

from __future__ import annotations

import io
import logging
import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduler.practice.models import Role
from tests.integration.conftest import PASSWORD, Factory

Client = AsyncTestClient[Litestar]


async def _login_form(client: Client) -> str:
    page = await client.get("/login", headers={"accept": "text/html"})
    assert page.status_code == 200
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert match, "the sign-in form carries a CSRF token"
    return match.group(1)


async def _sign_in(client: Client, email: str, password: str, csrf: str) -> int:
    response = await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf_token": csrf},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    return response.status_code


async def test_staff_signs_in_sees_home_and_signs_out(client: Client, factory: Factory) -> None:
    practice = await factory.practice("calm-hands")
    staff = await factory.staff(practice, Role.DESK, email="desk@calm.test")
    csrf = await _login_form(client)

    assert await _sign_in(client, staff.user.email, PASSWORD, csrf) == 303
    home = await client.get("/staff", headers={"accept": "text/html"})
    assert home.status_code == 200
    assert "Practice calm-hands" in home.text

    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', home.text)
    assert csrf
    out = await client.post(
        "/logout", data={"_csrf_token": csrf.group(1)}, headers={"accept": "text/html"}, follow_redirects=False
    )
    assert out.status_code == 303
    after = await client.get("/staff", headers={"accept": "text/html"}, follow_redirects=False)
    assert after.status_code in {302, 303, 307}
    assert after.headers["location"].endswith("/login")


async def test_form_post_without_csrf_token_is_refused(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    staff = await factory.staff(practice)
    response = await client.post(
        "/login",
        data={"email": staff.user.email, "password": PASSWORD},
        headers={"accept": "application/json"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "csrf_failed"


async def test_wrong_password_repeated_is_throttled_even_for_the_right_one(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    staff = await factory.staff(practice)
    csrf = await _login_form(client)
    for _ in range(5):
        assert await _sign_in(client, staff.user.email, "not the password", csrf) == 401
    response = await client.post(
        "/login",
        data={"email": staff.user.email, "password": PASSWORD, "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["code"] == "too_many_attempts"


async def test_throttle_is_per_account(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    victim = await factory.staff(practice)
    other = await factory.staff(practice, Role.DESK)
    csrf = await _login_form(client)
    for _ in range(5):
        await _sign_in(client, victim.user.email, "wrong wrong", csrf)
    assert await _sign_in(client, other.user.email, PASSWORD, csrf) == 303


async def test_api_without_token_is_401(client: Client) -> None:
    response = await client.get("/api/v1/practice")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


async def test_api_with_invalid_or_revoked_token_is_401(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    staff = await factory.staff(practice)
    bad = await client.get("/api/v1/practice", headers={"Authorization": "Bearer cb_notarealtoken"})
    assert bad.status_code == 401

    ok = await client.get("/api/v1/practice", headers=staff.headers)
    assert ok.status_code == 200
    assert ok.json()["slug"] == practice.slug

    tokens = (await client.get("/api/v1/tokens", headers=staff.headers)).json()["items"]
    revoked = await client.delete(f"/api/v1/tokens/{tokens[0]['id']}", headers=staff.headers)
    assert revoked.status_code == 204
    after = await client.get("/api/v1/practice", headers=staff.headers)
    assert after.status_code == 401


async def test_session_cookie_does_not_authenticate_the_api(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    staff = await factory.staff(practice)
    csrf = await _login_form(client)
    assert await _sign_in(client, staff.user.email, PASSWORD, csrf) == 303
    assert (await client.get("/api/v1/practice")).status_code == 401


async def test_only_owners_manage_users(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice, Role.OWNER)
    desk = await factory.staff(practice, Role.DESK)
    therapist = await factory.staff(practice, Role.THERAPIST)
    new_user = {"email": "new@x.test", "password": "long enough password", "role": "desk"}

    for outsider in (desk, therapist):
        listed = await client.get("/api/v1/users", headers=outsider.headers)
        assert listed.status_code == 403
        assert listed.json()["code"] == "permission_denied"
        created = await client.post("/api/v1/users", json=new_user, headers=outsider.headers)
        assert created.status_code == 403

    created = await client.post("/api/v1/users", json=new_user, headers=owner.headers)
    assert created.status_code == 201
    assert created.json()["role"] == "desk"
    emails = {u["email"] for u in (await client.get("/api/v1/users", headers=owner.headers)).json()["items"]}
    assert "new@x.test" in emails


async def test_bad_user_input_names_the_field_and_stores_nothing(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    owner = await factory.staff(practice)
    cases = [
        ({"email": "not-an-email", "password": "long enough password", "role": "desk"}, "email"),
        ({"email": "a@b.test", "password": "short", "role": "desk"}, "password"),
        ({"email": "a@b.test", "password": "long enough password", "role": "boss"}, "role"),
        ({"email": "a@b.test", "password": "long enough password"}, "role"),
        ({"email": "a@b.test", "password": "long enough password", "role": "desk", "admin": True}, "admin"),
    ]
    for body, field in cases:
        response = await client.post("/api/v1/users", json=body, headers=owner.headers)
        assert response.status_code in {400, 422}, body
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text, (field, response.text)
    users = (await client.get("/api/v1/users", headers=owner.headers)).json()["items"]
    assert [u["email"] for u in users] == [owner.user.email]


async def test_tokens_are_long_random_and_stored_only_as_hashes(
    client: Client, factory: Factory, engine: AsyncEngine
) -> None:
    practice = await factory.practice()
    staff = await factory.staff(practice)
    issued = await client.post("/api/v1/tokens", json={"label": "laptop"}, headers=staff.headers)
    assert issued.status_code == 201
    token = issued.json()["token"]
    # 32 random bytes, url-safe base64: 256 bits, well over 128.
    assert len(token.removeprefix("cb_")) >= 43
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT token_hash, prefix FROM api_token"))).all()
        users = (await conn.execute(text("SELECT password_hash FROM staff_user"))).all()
    assert all(token not in (row.token_hash + row.prefix) and staff.token != row.token_hash for row in rows)
    assert all(len(row.token_hash) == 64 for row in rows)
    assert all(row.password_hash.startswith("$argon2") for row in users)


async def test_logs_never_contain_passwords_or_tokens(client: Client, factory: Factory) -> None:
    practice = await factory.practice()
    staff = await factory.staff(practice)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("carebook")
    logger.addHandler(handler)
    try:
        csrf = await _login_form(client)
        await _sign_in(client, staff.user.email, "a-wrong-password-123", csrf)
        await _sign_in(client, staff.user.email, PASSWORD, csrf)
        await client.get("/api/v1/practice", headers=staff.headers)
        await client.get("/api/v1/practice", headers={"Authorization": "Bearer cb_guessed-token-value"})
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert '"route": "/api/v1/practice"' in logged
    for secret in (PASSWORD, "a-wrong-password-123", staff.token, "cb_guessed-token-value", staff.user.email):
        assert secret not in logged


async def test_signing_in_gives_a_new_session_id(client: Client, factory: Factory) -> None:
    """A session id planted in the browser before sign-in must not become a signed-in session."""
    practice = await factory.practice()
    staff = await factory.staff(practice)
    planted = "f" * 64
    client.cookies.set("carebook_session", planted)
    csrf = await _login_form(client)
    response = await client.post(
        "/login",
        data={"email": staff.user.email, "password": PASSWORD, "_csrf_token": csrf},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    issued = response.cookies.get("carebook_session")
    assert issued
    assert issued != planted
    client.cookies.clear()
    with_planted = await client.get(
        "/staff", headers={"accept": "text/html", "cookie": f"carebook_session={planted}"}, follow_redirects=False
    )
    assert with_planted.headers["location"].endswith("/login")
