"""What the OpenAPI document (/schema/openapi.json) says beyond what Litestar derives from the handlers.

- `Problem` and the `*_PROBLEMS` response maps: the problem+json documents (`error_handlers.py`) each API
  handler can answer with, declared on the handler as `responses=...`.
- `STAFF_SECURITY`: staff endpoints take `Authorization: Bearer <token>` (controllers using `api_staff`).
- `StrictStructSchemaPlugin`: input structs that refuse unknown fields say `additionalProperties: false`.

tests/fuzz holds the served app to this document: status codes, content types and bodies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Reference, SecurityRequirement, SecurityScheme

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemFieldError(msgspec.Struct):
    """One input at fault in a 400 `invalid_input`."""

    field: str
    source: str
    message: str


class Problem(msgspec.Struct, kw_only=True):
    """An error as `application/problem+json` (RFC 9457). Branch on `code`; `field` names the input at fault.

    Some codes carry more facts (a `slot_taken` its `start` and `end`, an `already_exists` client its
    `client_id`, an `invalid_transition` the `appointment_status`, a `series_conflicts` the list of
    `conflicts`, each with its occurrence `index`, `start`, `reason` and `alternative`, an
    `appointments_in_the_way` the list of `appointments`, each with its `id`, local `start` and `end`, `status`,
    `service` and `client_initials`), so other members may be present.
    """

    status: int
    title: str
    detail: str
    code: str
    field: str | msgspec.UnsetType = msgspec.UNSET
    instance: str | msgspec.UnsetType = msgspec.UNSET
    errors: list[ProblemFieldError] | msgspec.UnsetType = msgspec.UNSET


_PROBLEM_DESCRIPTIONS = {
    400: "The input is malformed or invalid (`invalid_input`, with the `field` at fault)",
    402: "The card was declined (`card_declined`) or needs the cardholder (`authentication_required`, with `pay_url`)",
    401: "No valid staff API token (`not_authenticated`); send `Authorization: Bearer <token>`",
    403: "The staff member's role does not allow this (`permission_denied`)",
    404: "No such practice or object (`not_found`, with the `field` naming it)",
    409: "Conflicts with the current state (`slot_taken`, `already_exists`, `invalid_transition`, "
    "`appointments_in_the_way`, `visit_not_started`, ...)",
    413: "The body is larger than 1 MiB (`body_too_large`)",
    415: "The body is not JSON (`unsupported_media_type`); send `Content-Type: application/json`",
    422: "Well-formed, but a practice rule forbids it (`code` names the rule, `field` the input)",
    503: "The payment processor did not answer (`gateway_unavailable`): retry the same request",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI `responses` for the problem documents a handler can answer with."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_MEDIA_TYPE,
            description=_PROBLEM_DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in statuses
    }


# Public handlers name the practice in the path; staff handlers need a token (and some a role). Writes can also
# conflict with the current state (409) or break a practice rule (422).
PUBLIC_READ_PROBLEMS = problems(400, 404)
PUBLIC_WRITE_PROBLEMS = problems(400, 404, 409, 413, 415, 422)
STAFF_READ_PROBLEMS = problems(400, 401, 403, 404)
STAFF_WRITE_PROBLEMS = problems(400, 401, 403, 404, 409, 413, 415, 422)


STAFF_AUTH_SCHEME = "staffToken"
STAFF_SECURITY_SCHEMES: dict[str, SecurityScheme | Reference] = {
    STAFF_AUTH_SCHEME: SecurityScheme(
        type="http",
        scheme="bearer",
        description="A staff API token (`carebook token create EMAIL`, or POST /api/v1/tokens).",
    )
}
STAFF_SECURITY: list[SecurityRequirement] = [{STAFF_AUTH_SCHEME: []}]


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """A struct with `forbid_unknown_fields=True` answers 400 to an unknown member, so its schema says
    `additionalProperties: false` (Litestar's own struct plugin leaves it open). Registered ahead of it."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return super().is_plugin_supported_field(field_definition) and bool(
            field_definition.type_.__struct_config__.forbid_unknown_fields
        )

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema
