"""ICD-10-CM codes against the CMS code set: what is billable, what is refused and what to use instead."""

from __future__ import annotations

import pytest

from scheduler.errors import DiagnosisCodeRefused, InvalidInput
from scheduler.plans.diagnosis_codes import Refusal, billable_and_refused, check_codes, normalise, problem_with


@pytest.mark.parametrize(
    ("raw", "code"),
    [("M54.50", "M54.50"), ("m5450", "M54.50"), (" m62.830 ", "M62.830"), ("S134XXA", "S13.4XXA"), ("M54", "M54")],
)
def test_codes_are_upper_cased_and_dotted(raw: str, code: str) -> None:
    assert normalise(raw) == code


@pytest.mark.parametrize("code", ["M54.50", "M54.51", "M54.59", "M62.830", "M54.16", "S13.4XXA", "G44.209"])
def test_billable_codes_are_accepted(code: str) -> None:
    assert problem_with(code) is None


def test_m54_5_is_refused_with_the_codes_that_replaced_it() -> None:
    problem = problem_with("M54.5")
    assert problem is not None
    assert problem.refusal is Refusal.NOT_BILLABLE
    assert problem.replacements == ("M54.50", "M54.51", "M54.59")
    assert problem.sentence == "M54.5 is a heading, not a billable ICD-10-CM code: use one of M54.50, M54.51, M54.59."


def test_a_category_is_refused_pointing_at_the_level_below() -> None:
    problem = problem_with("M54")
    assert problem is not None
    assert problem.refusal is Refusal.NOT_BILLABLE
    assert "M54.5" in problem.replacements
    assert not problem.replacements_billable
    assert "use a billable code under M54.0" in problem.sentence


@pytest.mark.parametrize("code", ["Z99.999", "M99.99", "A00.9XX"])
def test_made_up_codes_are_unknown(code: str) -> None:
    problem = problem_with(code)
    assert problem is not None
    assert problem.refusal is Refusal.UNKNOWN
    assert problem.replacements == ()
    assert code in problem.sentence
    assert "fiscal year 2026" in problem.sentence


@pytest.mark.parametrize(
    ("codes", "field", "named"),
    [(["M54.5"], "diagnosis_codes[0]", "M54.5"), (["M62.830", "z99999"], "diagnosis_codes[1]", "Z99.999")],
)
def test_check_codes_refuses_naming_the_field_and_the_code(codes: list[str], field: str, named: str) -> None:
    with pytest.raises(DiagnosisCodeRefused) as refused:
        check_codes(codes)
    assert refused.value.status == 422
    assert refused.value.field == field
    assert refused.value.to_problem()["diagnosis_code"] == named
    assert named in refused.value.detail


def test_text_that_is_no_code_at_all_is_bad_input() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_codes(["back pain"])
    assert refused.value.status == 400
    assert not isinstance(refused.value, DiagnosisCodeRefused)


def test_check_codes_normalises_and_drops_repeats() -> None:
    assert check_codes(["m5450", "M54.50", "M62.830"]) == ["M54.50", "M62.830"]


def test_codes_on_file_split_into_billable_and_refused() -> None:
    billable, refused = billable_and_refused(["M54.5", "M62.830", "Z99.999"])
    assert billable == ("M62.830",)
    assert [p.code for p in refused] == ["M54.5", "Z99.999"]
