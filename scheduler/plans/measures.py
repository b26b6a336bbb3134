"""The measures an assessment records and how they line up over time. Pure rules, no ORM or HTTP.

Pain is rated per area from 0 to 10 (lower is better), range of motion per joint and movement in degrees
(higher is better) and a functional limit per activity from 0 (no difficulty) to 10 (cannot do it). Every
assessment of a plan records the same kinds of measure, so each one becomes a series of points that is
compared with its value at the baseline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from scheduler.errors import InvalidInput

MAX_NAME = 100
MAX_NOTE = 500
MAX_ITEMS = 30
MAX_DEGREES = 360


@dataclass(frozen=True)
class Pain:
    area: str
    intensity: int


@dataclass(frozen=True)
class RangeOfMotion:
    joint: str
    movement: str
    degrees: int


@dataclass(frozen=True)
class FunctionalLimit:
    activity: str
    score: int
    note: str = ""


@dataclass(frozen=True)
class Measures:
    pain: tuple[Pain, ...] = ()
    range_of_motion: tuple[RangeOfMotion, ...] = ()
    functional_limits: tuple[FunctionalLimit, ...] = ()


def _name(raw: str, field: str, what: str) -> str:
    value = raw.strip()
    if not value:
        raise InvalidInput(f"Name the {what}.", field=field)
    if len(value) > MAX_NAME:
        raise InvalidInput(f"Keep the {what} under {MAX_NAME} characters.", field=field)
    return value


def _scale(value: int, field: str, what: str) -> int:
    if not 0 <= value <= 10:
        raise InvalidInput(f"Rate {what} from 0 to 10.", field=field)
    return value


def _unique(keys: Iterable[str], field: str) -> None:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key.casefold() in seen:
            raise InvalidInput("Each measure appears once per assessment.", field=f"{field}[{index}]")
        seen.add(key.casefold())


def check_measures(measures: Measures) -> Measures:
    """Measures as stored, or InvalidInput naming the first field at fault (`pain[1].intensity`, …)."""
    for name, items in (
        ("pain", measures.pain),
        ("range_of_motion", measures.range_of_motion),
        ("functional_limits", measures.functional_limits),
    ):
        if len(items) > MAX_ITEMS:
            raise InvalidInput(f"Record at most {MAX_ITEMS} of these.", field=name)
    if not (measures.pain or measures.range_of_motion or measures.functional_limits):
        raise InvalidInput("Record at least one measure: pain, range of motion or a functional limit.", field="pain")
    pain = tuple(
        Pain(_name(p.area, f"pain[{i}].area", "area"), _scale(p.intensity, f"pain[{i}].intensity", "the pain"))
        for i, p in enumerate(measures.pain)
    )
    rom: list[RangeOfMotion] = []
    for i, r in enumerate(measures.range_of_motion):
        if not 0 <= r.degrees <= MAX_DEGREES:
            raise InvalidInput("Give the range in degrees, 0 to 360.", field=f"range_of_motion[{i}].degrees")
        rom.append(
            RangeOfMotion(
                _name(r.joint, f"range_of_motion[{i}].joint", "joint"),
                _name(r.movement, f"range_of_motion[{i}].movement", "movement"),
                r.degrees,
            )
        )
    limits: list[FunctionalLimit] = []
    for i, f in enumerate(measures.functional_limits):
        note = f.note.strip()
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"Keep the note under {MAX_NOTE} characters.", field=f"functional_limits[{i}].note")
        limits.append(
            FunctionalLimit(
                _name(f.activity, f"functional_limits[{i}].activity", "activity"),
                _scale(f.score, f"functional_limits[{i}].score", "the difficulty"),
                note,
            )
        )
    _unique((p.area for p in pain), "pain")
    _unique((f"{r.joint}/{r.movement}" for r in rom), "range_of_motion")
    _unique((f.activity for f in limits), "functional_limits")
    return Measures(pain=pain, range_of_motion=tuple(rom), functional_limits=tuple(limits))


def measures_to_json(measures: Measures) -> dict[str, list[dict[str, Any]]]:
    return {
        "pain": [{"area": p.area, "intensity": p.intensity} for p in measures.pain],
        "range_of_motion": [
            {"joint": r.joint, "movement": r.movement, "degrees": r.degrees} for r in measures.range_of_motion
        ],
        "functional_limits": [
            {"activity": f.activity, "score": f.score, "note": f.note} for f in measures.functional_limits
        ],
    }


def measures_from_json(
    pain: Sequence[dict[str, Any]], rom: Sequence[dict[str, Any]], limits: Sequence[dict[str, Any]]
) -> Measures:
    return Measures(
        pain=tuple(Pain(str(p["area"]), int(p["intensity"])) for p in pain),
        range_of_motion=tuple(RangeOfMotion(str(r["joint"]), str(r["movement"]), int(r["degrees"])) for r in rom),
        functional_limits=tuple(
            FunctionalLimit(str(f["activity"]), int(f["score"]), str(f.get("note", ""))) for f in limits
        ),
    )


# --- progress ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One assessment as the progress view needs it."""

    on: dt.date
    is_baseline: bool
    measures: Measures


@dataclass(frozen=True)
class MeasureSeries:
    """One measure over time: its label, unit, which way is better, the baseline and every point."""

    key: str
    kind: str  # "pain" | "range_of_motion" | "functional_limits"
    label: str
    unit: str
    higher_is_better: bool
    scale_max: int
    baseline: float | None
    points: tuple[tuple[dt.date, float], ...]

    @property
    def latest(self) -> float | None:
        return self.points[-1][1] if self.points else None

    @property
    def change(self) -> float | None:
        """Latest minus baseline (None without both)."""
        if self.baseline is None or self.latest is None:
            return None
        return self.latest - self.baseline

    @property
    def improved(self) -> bool | None:
        change = self.change
        if change is None or change == 0:
            return None
        return (change > 0) == self.higher_is_better


def _entries(measures: Measures) -> list[tuple[str, str, str, str, bool, int, float]]:
    rows: list[tuple[str, str, str, str, bool, int, float]] = []
    for p in measures.pain:
        rows.append((f"pain:{p.area.casefold()}", "pain", f"Pain \N{EN DASH} {p.area}", "/10", False, 10, p.intensity))
    for r in measures.range_of_motion:
        key = f"rom:{r.joint.casefold()}/{r.movement.casefold()}"
        rows.append((key, "range_of_motion", f"{r.joint} {r.movement}", "°", True, 0, r.degrees))
    for f in measures.functional_limits:
        key = f"function:{f.activity.casefold()}"
        rows.append((key, "functional_limits", f"Difficulty \N{EN DASH} {f.activity}", "/10", False, 10, f.score))
    return rows


def progress(recorded: Sequence[Recorded]) -> list[MeasureSeries]:
    """Each measure's points in date order against its baseline value.

    The baseline is the assessment flagged as one (the latest flagged, if the plan was re-baselined); a
    measure first recorded after the baseline is compared with its first value.
    """
    ordered = sorted(recorded, key=lambda r: r.on)
    baselines = [r for r in ordered if r.is_baseline]
    baseline_values: dict[str, float] = {}
    if baselines:
        baseline_values = {row[0]: row[6] for row in _entries(baselines[-1].measures)}
    found: dict[str, list[Any]] = {}
    for assessment in ordered:
        for key, kind, label, unit, higher, scale_max, value in _entries(assessment.measures):
            entry = found.setdefault(key, [kind, label, unit, higher, scale_max, []])
            entry[5].append((assessment.on, float(value)))
    kinds = {"pain": 0, "range_of_motion": 1, "functional_limits": 2}
    result = [
        MeasureSeries(
            key=key,
            kind=kind,
            label=label,
            unit=unit,
            higher_is_better=higher,
            scale_max=scale_max,
            baseline=baseline_values.get(key, points[0][1] if points else None),
            points=tuple(points),
        )
        for key, (kind, label, unit, higher, scale_max, points) in found.items()
    ]
    return sorted(result, key=lambda s: kinds[s.kind])
