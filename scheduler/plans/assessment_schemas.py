"""msgspec shapes for assessments and progress (health information: therapists and owners only)."""

from __future__ import annotations

import datetime as dt

import msgspec


class PainIn(msgspec.Struct, forbid_unknown_fields=True):
    area: str
    intensity: int


class RangeOfMotionIn(msgspec.Struct, forbid_unknown_fields=True):
    joint: str
    movement: str
    degrees: int


class FunctionalLimitIn(msgspec.Struct, forbid_unknown_fields=True):
    activity: str
    score: int
    note: str = ""


class AssessmentIn(msgspec.Struct, forbid_unknown_fields=True):
    """One assessment. The plan's first is its baseline unless `baseline` is false; `baseline: true` on a
    later one re-baselines the plan. `assessed_on` defaults to the visit's day, else today."""

    pain: list[PainIn] = []
    range_of_motion: list[RangeOfMotionIn] = []
    functional_limits: list[FunctionalLimitIn] = []
    assessed_on: dt.date | None = None
    appointment_id: str | None = None
    baseline: bool | None = None
    notes: str = ""


class PainOut(msgspec.Struct):
    area: str
    intensity: int


class RangeOfMotionOut(msgspec.Struct):
    joint: str
    movement: str
    degrees: int


class FunctionalLimitOut(msgspec.Struct):
    activity: str
    score: int
    note: str


class AssessmentOut(msgspec.Struct):
    id: str
    plan_id: str
    appointment_id: str | None
    baseline: bool
    assessed_on: dt.date
    pain: list[PainOut]
    range_of_motion: list[RangeOfMotionOut]
    functional_limits: list[FunctionalLimitOut]
    notes: str


class AssessmentList(msgspec.Struct):
    items: list[AssessmentOut]
