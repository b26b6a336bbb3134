"""A domain error's extra facts never replace the problem document's own members (found by tests/fuzz: an
`invalid_transition` once answered `"status": "cancelled"` in a 409)."""

from __future__ import annotations

from scheduler.errors import InvalidTransition, RuleViolation


def test_extra_facts_cannot_overwrite_status_title_or_code() -> None:
    error = InvalidTransition("No.", status="cancelled", title="x", code="y", appointment_status="cancelled")
    problem = error.to_problem()
    assert problem == {"code": "invalid_transition", "appointment_status": "cancelled"}


def test_rule_violation_still_names_its_rule() -> None:
    problem = RuleViolation("Too soon.", rule="min_notice", field="start").to_problem()
    assert problem == {"code": "min_notice", "field": "start", "rule": "min_notice"}
