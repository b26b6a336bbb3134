"""`GET /health`: the process is up and the database answers."""

from __future__ import annotations

import msgspec
from litestar import get
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from scheduler.deps import DbSession


class Health(msgspec.Struct):
    status: str
    database: str


@get(
    "/health",
    operation_id="health",
    tags=["system"],
    summary="Liveness and database check",
    responses={503: ResponseSpec(Health, description="The database does not answer", generate_examples=False)},
)
async def health(db_session: DbSession) -> Response[Health]:
    try:
        await db_session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return Response(Health(status="degraded", database="unreachable"), status_code=503)
    return Response(Health(status="ok", database="ok"))
