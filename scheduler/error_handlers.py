"""Maps every error to a response once: problem+json for the API, a page (or the sign-in redirect) for HTML."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from scheduler.errors import CarebookError, NotAuthenticated, TooManyAttempts

logger = logging.getLogger("carebook.errors")

_HTTP_CODES = {
    400: "invalid_input",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}

_API_PREFIXES = ("/api/", "/webhooks/", "/feeds/", "/schema", "/health")


def _path(request: Request[Any, Any, Any]) -> str:
    # From the scope, not `request.url`: building the URL decodes the query string, which may not be UTF-8.
    return str(request.scope.get("root_path", "")) + request.scope["path"]


def wants_problem_json(request: Request[Any, Any, Any]) -> bool:
    path = _path(request)
    return path.startswith(_API_PREFIXES) or "text/html" not in request.headers.get("accept", "")


def _problem(
    request: Request[Any, Any, Any],
    *,
    status: int,
    title: str,
    detail: str,
    extra: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    return ProblemDetailsException(
        status_code=status,
        title=title,
        detail=detail,
        extra=extra,
        headers=headers,
        instance=_path(request) if status != 404 else None,
    ).to_response(request)


def _page(status: int, title: str, detail: str) -> Response[Any]:
    if status == 401:
        return Redirect(path="/login")
    return Template(
        template_name="pages/error.html",
        context={"status": status, "title": title, "detail": detail},
        status_code=status,
        media_type=MediaType.HTML,
    )


def handle_domain_error(request: Request[Any, Any, Any], exc: CarebookError) -> Response[Any]:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
    if isinstance(exc, NotAuthenticated) and wants_problem_json(request):
        headers = {"WWW-Authenticate": 'Bearer realm="carebook"'}
    if not wants_problem_json(request):
        return _page(exc.status, exc.title, exc.detail)
    return _problem(
        request,
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        extra=exc.to_problem(),
        headers=headers,
    )


# msgspec reports an unknown or missing field at the object holding it ("data", "items[0]"); the field
# at fault is the one named in the message.
_NAMED_FIELD_RE = re.compile(r"^Object (?:contains unknown|missing required) field `([^`]+)`")


def field_of(key: str, message: str) -> str:
    named = _NAMED_FIELD_RE.match(message)
    if named is None:
        return "body" if key == "data" else key  # the handler's `data` is the request body as a whole
    return named.group(1) if key in {"", "data"} else f"{key}.{named.group(1)}"


def _validation_errors(exc: ValidationException) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    if isinstance(exc.extra, list):
        for item in exc.extra:
            if isinstance(item, dict):
                message = str(item.get("message") or "")
                if message == "'data'":  # Litestar's word for a body that is missing altogether
                    message = "The request needs a body."
                errors.append(
                    {
                        "field": field_of(str(item.get("key") or ""), message),
                        "source": str(item.get("source") or ""),
                        "message": message,
                    }
                )
    return errors


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    extra: dict[str, Any] = {"code": _HTTP_CODES.get(status, "error")}
    detail = exc.detail
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc)
        extra["code"] = "invalid_input"
        if errors:
            extra["errors"] = errors
            first = errors[0]
            if first["field"]:
                extra["field"] = first["field"]
            detail = first["message"] or detail
    elif isinstance(exc.__cause__, SerializationException):
        extra["field"] = "body"  # Litestar could not decode the body at all
    elif status == 403 and "CSRF" in exc.detail:
        extra["code"] = "csrf_failed"
        detail = "The form expired or was sent from another site. Reload the page and try again."
    if status >= 500:
        logger.error("http exception %s on %s", status, request.scope.get("path_template"))
        detail = "Something went wrong on our side."
    title = _title_for(status)
    if not wants_problem_json(request):
        return _page(status, title, detail)
    return _problem(request, status=status, title=title, detail=detail, extra=extra, headers=exc.headers)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unhandled error on %s", request.scope.get("path_template"), exc_info=exc)
    status = HTTP_500_INTERNAL_SERVER_ERROR
    if not wants_problem_json(request):
        return _page(status, "Something went wrong", "Please try again in a moment.")
    return _problem(
        request,
        status=status,
        title="Internal error",
        detail="Something went wrong on our side.",
        extra={"code": "internal_error"},
    )


def _title_for(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    CarebookError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
