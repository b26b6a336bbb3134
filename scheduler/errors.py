"""The one error hierarchy. Services raise these; `app.py` maps them once to problem+json (API) or pages.

Each error has a stable machine `code` clients can branch on, an HTTP status, and optionally the
`field` at fault and extra facts (for example the conflicting slot of a `slot_taken`).
"""

from __future__ import annotations

from typing import Any, ClassVar


class CarebookError(Exception):
    """Base of every domain error."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.field = field
        self.extra = extra

    def to_problem(self) -> dict[str, Any]:
        """The problem document's members beyond RFC 9457's own. A fact named like one of those (`status`,
        `title`, ...) or `code` is left out rather than let it overwrite the HTTP status or the title."""
        body: dict[str, Any] = {"code": self.code}
        if self.field is not None:
            body["field"] = self.field
        body.update((name, value) for name, value in self.extra.items() if name not in _RESERVED_MEMBERS)
        return body


# Members of every problem document (RFC 9457 plus our `code`); extra facts never replace them.
_RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "code"})


class InvalidInput(CarebookError):
    status = 400
    code = "invalid_input"
    title = "Invalid input"


class UnsupportedMediaType(CarebookError):
    """A body in a format the endpoint does not read (the JSON API reads `application/json` only)."""

    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class NotAuthenticated(CarebookError):
    status = 401
    code = "not_authenticated"
    title = "Sign-in required"


class PermissionDenied(CarebookError):
    status = 403
    code = "permission_denied"
    title = "Not allowed for your role"


class NotFound(CarebookError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(CarebookError):
    status = 409
    code = "conflict"
    title = "Conflict"


class AlreadyExists(Conflict):
    code = "already_exists"
    title = "Already exists"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "Not possible in the appointment's current state"


class SlotTaken(Conflict):
    code = "slot_taken"
    title = "That time is no longer available"


class AppointmentsInTheWay(Conflict):
    """A set-up change (time off, deactivating a therapist or room) would strand live visits still to come.

    `appointments` lists each one (id, local start and end, status, service name, client initials: nothing
    clinical) so the desk can move them first; the request may opt in to save anyway."""

    code = "appointments_in_the_way"
    title = "Booked appointments are in the way"


class Gone(CarebookError):
    """What a link pointed at is over for good: a released hold, an expired link."""

    status = 410
    code = "gone"
    title = "No longer available"


class RuleViolation(CarebookError):
    """Input is well-formed but a practice rule forbids it (outside hours, too short notice, …)."""

    status = 422
    code = "rule_violation"
    title = "Not allowed by the practice's rules"

    def __init__(self, detail: str | None = None, *, rule: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail, field=field, rule=rule, **extra)
        self.rule = rule

    def to_problem(self) -> dict[str, Any]:
        body = super().to_problem()
        body["code"] = self.rule
        return body


class TooManyAttempts(CarebookError):
    status = 429
    code = "too_many_attempts"
    title = "Too many attempts"

    def __init__(self, detail: str | None = None, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.retry_after = retry_after


class NonexistentLocalTime(InvalidInput):
    """A local wall time that the clocks skip (the spring-forward gap): never silently shifted."""

    code = "nonexistent_local_time"
    title = "That local time does not exist"


class SeriesConflicts(Conflict):
    """A series commit or edit that would book occurrences into conflicts; `conflicts` lists every one."""

    code = "series_conflicts"
    title = "Occurrences of the series conflict"


class DiagnosisCodeRefused(InvalidInput):
    """A well-formed ICD-10-CM code the code set does not accept as billable: unknown (made up, or deleted),
    or a heading with codes under it (a category such as `M54`, or `M54.5` since October 2021).
    `diagnosis_code` names it; `replacements` lists the billable codes the set knows in its place."""

    status = 422
    code = "diagnosis_code_refused"
    title = "Not a billable ICD-10-CM code"


class SuperbillNotReady(CarebookError):
    """A superbill an insurer would return: `missing` lists every item (what, a sentence, where to fix it)."""

    status = 422
    code = "superbill_not_ready"
    title = "The superbill is missing details an insurer needs"
