"""The intake questionnaire's answers, their checks and the contraindication flags they imply. Pure rules.

A client fills the questionnaire before the first visit. The answers are health information: they are
checked here (each refusal names the field at fault) and the flags a therapist must see before touching
the client are derived from them: blood thinners, recent surgery, pregnancy, blood clots, and so on.
The schedule shows only *that* a client has flags; what they are is for the clinical pages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from scheduler.errors import InvalidInput

MAX_TEXT = 2000
MAX_SHORT = 100
MAX_PAIN_AREAS = 20
RECENT_SURGERY = dt.timedelta(days=183)  # about six months

# Conditions the form asks about one by one (a tick each); the ones that are contraindications say why.
CONDITIONS: dict[str, str] = {
    "blood_clots": "Blood clots or deep vein thrombosis",
    "heart_condition": "Heart condition",
    "high_blood_pressure": "High blood pressure",
    "diabetes": "Diabetes",
    "cancer": "Cancer (current or in treatment)",
    "osteoporosis": "Osteoporosis",
    "skin_condition": "Skin condition or open wounds",
    "epilepsy": "Epilepsy or seizures",
}

# Flag code → what the therapist reads on the clinical page.
FLAG_LABELS: dict[str, str] = {
    "blood_thinners": "Takes blood thinners: bruising risk, avoid deep pressure",
    "recent_surgery": "Surgery in the last six months: avoid the area, check clearance",
    "pregnancy": "Pregnant: positioning and pressure points",
    "blood_clots": "History of blood clots/DVT: no deep work on the legs without clearance",
    "cancer": "Cancer: check with the oncology team before treatment",
    "osteoporosis": "Osteoporosis: light pressure only",
    "skin_condition": "Skin condition or open wounds: avoid affected areas",
    "epilepsy": "Epilepsy: know the seizure plan",
}
_CONDITION_FLAGS = ("blood_clots", "cancer", "osteoporosis", "skin_condition", "epilepsy")


@dataclass(frozen=True)
class PainArea:
    area: str
    intensity: int  # 0 (none) to 10 (worst imaginable)


@dataclass(frozen=True)
class IntakeAnswers:
    """What the client answered; free text is trimmed, lists are cleaned, dates checked."""

    current_health_issues: str = ""
    past_health_issues: str = ""
    conditions: tuple[str, ...] = ()
    medications: str = ""
    takes_blood_thinners: bool = False
    surgeries_and_injuries: str = ""
    last_surgery_on: dt.date | None = None
    pregnant: bool = False
    pregnancy_weeks: int | None = None
    allergies: str = ""
    pain_areas: tuple[PainArea, ...] = ()
    goals: str = ""
    consent: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "current_health_issues": self.current_health_issues,
            "past_health_issues": self.past_health_issues,
            "conditions": list(self.conditions),
            "medications": self.medications,
            "takes_blood_thinners": self.takes_blood_thinners,
            "surgeries_and_injuries": self.surgeries_and_injuries,
            "last_surgery_on": self.last_surgery_on.isoformat() if self.last_surgery_on else None,
            "pregnant": self.pregnant,
            "pregnancy_weeks": self.pregnancy_weeks,
            "allergies": self.allergies,
            "pain_areas": [{"area": p.area, "intensity": p.intensity} for p in self.pain_areas],
            "goals": self.goals,
            "consent": self.consent,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IntakeAnswers:
        surgery = data.get("last_surgery_on")
        return cls(
            current_health_issues=str(data.get("current_health_issues") or ""),
            past_health_issues=str(data.get("past_health_issues") or ""),
            conditions=tuple(str(c) for c in data.get("conditions") or ()),
            medications=str(data.get("medications") or ""),
            takes_blood_thinners=bool(data.get("takes_blood_thinners")),
            surgeries_and_injuries=str(data.get("surgeries_and_injuries") or ""),
            last_surgery_on=dt.date.fromisoformat(surgery) if surgery else None,
            pregnant=bool(data.get("pregnant")),
            pregnancy_weeks=data.get("pregnancy_weeks"),
            allergies=str(data.get("allergies") or ""),
            pain_areas=tuple(
                PainArea(str(p["area"]), int(p["intensity"])) for p in data.get("pain_areas") or () if "area" in p
            ),
            goals=str(data.get("goals") or ""),
            consent=bool(data.get("consent")),
        )


def _text(value: str, field_name: str, limit: int = MAX_TEXT) -> str:
    cleaned = value.strip()
    if len(cleaned) > limit:
        raise InvalidInput(f"Keep this under {limit} characters.", field=field_name)
    return cleaned


def check_answers(answers: IntakeAnswers, today: dt.date) -> IntakeAnswers:
    """The answers as stored, or InvalidInput naming the first field at fault. Consent is required."""
    unknown = [c for c in answers.conditions if c not in CONDITIONS]
    if unknown:
        raise InvalidInput(f"Unknown condition {unknown[0]!r}.", field="conditions")
    if answers.last_surgery_on is not None:
        if answers.last_surgery_on > today:
            raise InvalidInput("The date of the last surgery cannot be in the future.", field="last_surgery_on")
        if answers.last_surgery_on.year < 1900:
            raise InvalidInput("Use a date from 1900 on.", field="last_surgery_on")
    weeks = answers.pregnancy_weeks
    if weeks is not None and not 0 <= weeks <= 45:
        raise InvalidInput("Give the weeks of pregnancy as a number from 0 to 45.", field="pregnancy_weeks")
    if len(answers.pain_areas) > MAX_PAIN_AREAS:
        raise InvalidInput(f"List at most {MAX_PAIN_AREAS} areas of pain.", field="pain_areas")
    areas: list[PainArea] = []
    for index, pain in enumerate(answers.pain_areas):
        area = _text(pain.area, f"pain_areas[{index}].area", MAX_SHORT)
        if not area:
            raise InvalidInput("Name the area of pain.", field=f"pain_areas[{index}].area")
        if not 0 <= pain.intensity <= 10:
            raise InvalidInput("Rate the pain from 0 (none) to 10 (worst).", field=f"pain_areas[{index}].intensity")
        areas.append(PainArea(area, pain.intensity))
    if not answers.consent:
        raise InvalidInput("Please read and accept the consent to treatment.", field="consent")
    return IntakeAnswers(
        current_health_issues=_text(answers.current_health_issues, "current_health_issues"),
        past_health_issues=_text(answers.past_health_issues, "past_health_issues"),
        conditions=tuple(c for c in CONDITIONS if c in answers.conditions),
        medications=_text(answers.medications, "medications"),
        takes_blood_thinners=answers.takes_blood_thinners,
        surgeries_and_injuries=_text(answers.surgeries_and_injuries, "surgeries_and_injuries"),
        last_surgery_on=answers.last_surgery_on,
        pregnant=answers.pregnant,
        pregnancy_weeks=weeks if answers.pregnant else None,
        allergies=_text(answers.allergies, "allergies"),
        pain_areas=tuple(areas),
        goals=_text(answers.goals, "goals"),
        consent=True,
    )


def contraindications(answers: IntakeAnswers, today: dt.date) -> list[str]:
    """The flag codes these answers raise, in FLAG_LABELS order (stable, so the stored list compares)."""
    raised: set[str] = set()
    if answers.takes_blood_thinners:
        raised.add("blood_thinners")
    if answers.last_surgery_on is not None and today - answers.last_surgery_on < RECENT_SURGERY:
        raised.add("recent_surgery")
    if answers.pregnant:
        raised.add("pregnancy")
    raised.update(c for c in answers.conditions if c in _CONDITION_FLAGS)
    return [code for code in FLAG_LABELS if code in raised]
