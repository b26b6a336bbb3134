from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient


async def test_health_reports_database_ok(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_openapi_lists_public_contract(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/practices/{slug}/services" in paths
    assert "/api/v1/practices/{slug}/therapists" in paths
    assert "/health" in paths
    assert not any(p.startswith("/login") for p in paths)
