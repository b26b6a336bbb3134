"""Following a portal sign-in link the way a client's browser does: open it, then press "Sign in"."""

from __future__ import annotations

from typing import Any

from tests.integration.clinical_helpers import HTML, Client, csrf


async def follow_sign_in_link(client: Client, path: str) -> Any:
    """Open the e-mailed link (which only shows a confirmation) and post its form; returns the post's answer."""
    page = await client.get(path, headers=HTML, follow_redirects=False)
    assert page.status_code == 200, page.text
    assert "Sign in</button>" in page.text
    return await client.post(path, data={"_csrf_token": csrf(page.text)}, headers=HTML, follow_redirects=False)
