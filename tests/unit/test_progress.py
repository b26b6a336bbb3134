"""Assessment measures: their checks, their progress against the baseline, and the SVG chart."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from scheduler.errors import InvalidInput
from scheduler.plans.measures import (
    FunctionalLimit,
    Measures,
    Pain,
    RangeOfMotion,
    Recorded,
    check_measures,
    progress,
)
from scheduler.plans.progress_chart import progress_chart_svg

DAY = dt.date(2027, 3, 2)
SVG = "{http://www.w3.org/2000/svg}"


def visit(days: int, back: int, rotation: int, *, baseline: bool = False) -> Recorded:
    return Recorded(
        DAY + dt.timedelta(days=days),
        baseline,
        Measures(
            pain=(Pain("Lower back", back),),
            range_of_motion=(RangeOfMotion("Neck", "rotation left", rotation),),
            functional_limits=(FunctionalLimit("Sitting", 6),),
        ),
    )


def test_each_measure_is_compared_with_the_baseline() -> None:
    measures = progress([visit(28, 5, 60), visit(0, 7, 45, baseline=True), visit(56, 3, 70)])
    back, rotation, sitting = measures
    assert back.label == "Pain \N{EN DASH} Lower back"
    assert back.points == ((DAY, 7.0), (DAY + dt.timedelta(days=28), 5.0), (DAY + dt.timedelta(days=56), 3.0))
    assert (back.baseline, back.change, back.improved) == (7.0, -4.0, True)
    assert (rotation.baseline, rotation.change, rotation.improved) == (45.0, 25.0, True)
    assert sitting.improved is None


def test_a_rebaselined_plan_compares_with_the_latest_baseline() -> None:
    measures = progress([visit(0, 7, 45, baseline=True), visit(28, 5, 60, baseline=True), visit(56, 6, 50)])
    assert measures[0].baseline == 5.0
    assert measures[0].improved is False
    assert measures[1].improved is False


def test_worse_pain_and_less_motion_read_as_worse() -> None:
    back, rotation, _ = progress([visit(0, 3, 70, baseline=True), visit(7, 6, 50)])
    assert back.improved is False
    assert rotation.improved is False


@pytest.mark.parametrize(
    ("measures", "field"),
    [
        (Measures(), "pain"),
        (Measures(pain=(Pain("Neck", 11),)), "pain[0].intensity"),
        (Measures(range_of_motion=(RangeOfMotion("Neck", "flexion", 361),)), "range_of_motion[0].degrees"),
        (Measures(range_of_motion=(RangeOfMotion("Neck", "", 30),)), "range_of_motion[0].movement"),
        (Measures(functional_limits=(FunctionalLimit("Walking", 12),)), "functional_limits[0].score"),
        (Measures(pain=(Pain("Neck", 1), Pain("NECK", 2))), "pain[1]"),
    ],
)
def test_bad_measures_name_the_field(measures: Measures, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_measures(measures)
    assert refused.value.field == field


def test_chart_draws_one_panel_per_measure_with_baseline_and_points() -> None:
    svg = progress_chart_svg(progress([visit(0, 7, 45, baseline=True), visit(28, 5, 60), visit(56, 3, 70)]))
    root = ET.fromstring(svg)  # noqa: S314 (our own output)
    panels = root.findall(f"{SVG}g")
    assert len(panels) == 3
    assert len(root.findall(f".//{SVG}circle")) == 9
    assert len(root.findall(f".//{SVG}line[@class='baseline']")) == 3
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "better (\N{MINUS SIGN}4)" in texts
    assert "better (+25°)" in texts
    assert "baseline 7" in texts
    assert {"Mar 2", "Mar 30", "Apr 27"} <= set(texts)  # dates on the axis read as on every page (en_US)


def test_chart_escapes_names_and_says_when_there_is_nothing_yet() -> None:
    odd = Recorded(DAY, True, Measures(pain=(Pain("<script>", 3),)))
    svg = progress_chart_svg(progress([odd]))
    assert "<script>" not in svg
    ET.fromstring(svg)  # noqa: S314
    assert "No assessments recorded yet" in progress_chart_svg([])
