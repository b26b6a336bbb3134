"""msgspec shapes for the intake questionnaire (health information: staff API for therapists and owners)."""

from __future__ import annotations

import datetime as dt

import msgspec


class PainAreaOut(msgspec.Struct):
    area: str
    intensity: int


class IntakeAnswersOut(msgspec.Struct):
    current_health_issues: str
    past_health_issues: str
    conditions: list[str]
    medications: str
    takes_blood_thinners: bool
    surgeries_and_injuries: str
    last_surgery_on: dt.date | None
    pregnant: bool
    pregnancy_weeks: int | None
    allergies: str
    pain_areas: list[PainAreaOut]
    goals: str
    consent: bool


class ContraindicationOut(msgspec.Struct):
    code: str
    label: str


class IntakeOut(msgspec.Struct):
    id: str
    client_id: str
    submitted_at: dt.datetime
    answers: IntakeAnswersOut
    contraindications: list[ContraindicationOut]


class IntakeLinkIn(msgspec.Struct, forbid_unknown_fields=True):
    send_email: bool = False


class IntakeLinkOut(msgspec.Struct):
    url: str
    expires_at: dt.datetime
    emailed: bool
