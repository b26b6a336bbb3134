"""What every request must be before a handler reads it: text Carebook can decode and store, and for the
JSON API a body that is JSON. `app.py` runs `check_request` as the app's `before_request` hook, so a
malformed request is a 4xx naming the input at fault (problem+json on the API, a page for HTML), never a
500 from deep inside a decoder or the database. (Bodies over the app's `request_max_body_size` are a 413
before any of this.)

- Path and query string: UTF-8 without NUL. PostgreSQL cannot store U+0000; a path holding one, or a
  segment longer than any id, names nothing, so it is 404; a bad query parameter is 400 naming it.
- A handler that takes a JSON body: another declared content type is 415 naming `body`; bytes that are
  not UTF-8, not JSON or nested absurdly deep are 400 naming `body`; a string (or member name) with NUL or
  a lone surrogate is 400 naming where it sits (`client.first_name`, `items[0].end`).
- A form (whether the handler declares it or reads it itself): a value with NUL is 400 naming the field.

The decoded JSON is cached on the request, so the handler's own decoding does not read it twice.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import SerializationException
from litestar.params import BodyKwarg

from scheduler.error_handlers import field_of
from scheduler.errors import InvalidInput, NotFound, UnsupportedMediaType

NUL = "\x00"
# No id, slug, token or file name Carebook serves is longer; a longer path segment names nothing (and some
# file systems would fail on it rather than report it missing).
MAX_SEGMENT = 255
_NUL_DETAIL = "Text cannot contain the NUL character (U+0000) or an unpaired surrogate."


def storable(text: str) -> bool:
    """Text a database column can hold: no NUL, and encodable as UTF-8 (no lone surrogate)."""
    if NUL in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def check_request(request: Request[Any, Any, Any]) -> None:
    path: str = request.scope["path"]
    if NUL in path or any(len(segment) > MAX_SEGMENT for segment in path.split("/")):
        raise NotFound("No such page.")
    _check_query(request.scope.get("query_string", b""))
    body = request.route_handler.parsed_fn_signature.parameters.get("data")
    declared = body.kwarg_definition if body is not None else None
    media_type = declared.media_type if isinstance(declared, BodyKwarg) else None
    if media_type == RequestEncodingType.JSON and body is not None:
        await _check_json_body(request, body.annotation)
    elif request.content_type[0] in {RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART}:
        for name, value in (await request.form()).multi_items():
            if isinstance(value, str) and not storable(value):
                raise InvalidInput(_NUL_DETAIL, field=name)


def _decoded(raw: bytes) -> str | None:
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _check_query(query: bytes) -> None:
    for pair in query.split(b"&") if query else ():
        raw_name, _, raw_value = pair.partition(b"=")
        name = _decoded(raw_name)
        if name is None or not storable(name):
            raise InvalidInput("The query string is not valid UTF-8 text.", field="query")
        value = _decoded(raw_value)
        if value is None:
            raise InvalidInput("This query parameter is not valid UTF-8.", field=name or "query")
        if not storable(value):
            raise InvalidInput(_NUL_DETAIL, field=name or "query")


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


async def _check_json_body(request: Request[Any, Any, Any], declared_type: Any) -> None:
    declared = request.headers.get("content-type")
    if declared is not None and not _is_json(request.content_type[0].lower()):
        raise UnsupportedMediaType(
            f"Send the body as JSON with 'Content-Type: application/json' (not {request.content_type[0] or 'empty'}).",
            field="body",
        )
    try:
        value = await request.json()
    except UnicodeDecodeError:
        raise InvalidInput("The body is not valid UTF-8.", field="body") from None
    except RecursionError:
        raise InvalidInput("The body is nested too deeply.", field="body") from None
    except SerializationException as exc:
        raise InvalidInput(f"The body is not valid JSON: {exc}.", field="body") from None
    where = _unstorable_text(value)
    if where is not None:
        raise InvalidInput(_NUL_DETAIL, field=where or "body")
    _check_types_strictly(value, declared_type)


def _check_types_strictly(value: Any, declared_type: Any) -> None:
    """JSON types must match the schema: Litestar's own decoding would turn "TRUE" into true and "30" into 30."""
    try:
        msgspec.convert(value, declared_type, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        problem, _, at = message.partition(" - at `")
        path = at.rstrip("`").removeprefix("$").lstrip(".") if at else ""
        raise InvalidInput(problem, field=field_of(path, problem) or "body") from None
    except (TypeError, ValueError):
        return  # a body type msgspec cannot check on its own is left to Litestar's decoding


def _unstorable_text(value: Any) -> str | None:
    """Where in a decoded JSON value the first string a column cannot hold sits ('' for the value itself)."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if not storable(item):
                return where
        elif isinstance(item, dict):
            for key, member in reversed(list(item.items())):
                here = f"{where}.{key}" if where else str(key)
                if not storable(str(key)):
                    return here
                stack.append((here, member))
        elif isinstance(item, list):
            stack.extend((f"{where}[{index}]", member) for index, member in reversed(list(enumerate(item))))
    return None
