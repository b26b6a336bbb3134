"""The intake's answer checks and the contraindication flags they raise."""

from __future__ import annotations

import datetime as dt

import pytest

from scheduler.clients.intake_rules import IntakeAnswers, PainArea, check_answers, contraindications
from scheduler.errors import InvalidInput

TODAY = dt.date(2027, 3, 1)


def answers(**changes: object) -> IntakeAnswers:
    base: dict[str, object] = {"consent": True, "pain_areas": (PainArea("Lower back", 7),)}
    base.update(changes)
    return IntakeAnswers(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "flags"),
    [
        ({}, []),
        ({"takes_blood_thinners": True}, ["blood_thinners"]),
        ({"last_surgery_on": TODAY - dt.timedelta(days=30)}, ["recent_surgery"]),
        ({"last_surgery_on": TODAY - dt.timedelta(days=182)}, ["recent_surgery"]),
        ({"last_surgery_on": TODAY - dt.timedelta(days=200)}, []),
        ({"pregnant": True}, ["pregnancy"]),
        ({"conditions": ("blood_clots", "diabetes")}, ["blood_clots"]),
        ({"conditions": ("high_blood_pressure",)}, []),
        (
            {"pregnant": True, "takes_blood_thinners": True, "conditions": ("osteoporosis",)},
            ["blood_thinners", "pregnancy", "osteoporosis"],
        ),
    ],
)
def test_contraindications_follow_the_answers(changes: dict[str, object], flags: list[str]) -> None:
    assert contraindications(check_answers(answers(**changes), TODAY), TODAY) == flags


def test_recent_surgery_flag_wears_off_after_six_months() -> None:
    surgery = answers(last_surgery_on=dt.date(2027, 1, 10))
    assert contraindications(surgery, dt.date(2027, 3, 1)) == ["recent_surgery"]
    assert contraindications(surgery, dt.date(2027, 9, 1)) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"consent": False}, "consent"),
        ({"pain_areas": (PainArea("Neck", 11),)}, "pain_areas[0].intensity"),
        ({"pain_areas": (PainArea("Neck", 3), PainArea(" ", 3))}, "pain_areas[1].area"),
        ({"pain_areas": (PainArea("Neck", -1),)}, "pain_areas[0].intensity"),
        ({"last_surgery_on": TODAY + dt.timedelta(days=1)}, "last_surgery_on"),
        ({"pregnant": True, "pregnancy_weeks": 60}, "pregnancy_weeks"),
        ({"conditions": ("flying",)}, "conditions"),
        ({"medications": "x" * 2001}, "medications"),
    ],
)
def test_bad_answers_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_answers(answers(**changes), TODAY)
    assert refused.value.field == field


def test_answers_round_trip_through_json() -> None:
    checked = check_answers(
        answers(last_surgery_on=dt.date(2026, 12, 1), pregnant=True, pregnancy_weeks=20, allergies="  nuts "), TODAY
    )
    assert checked.allergies == "nuts"
    assert IntakeAnswers.from_json(checked.to_json()) == checked
