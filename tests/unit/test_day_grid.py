"""The day grid's layout: where visits, working hours and time away land, and how the axis grows."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from scheduler.web.day_grid import Entry, lay_out_day, minute_of_day

NEW_YORK = ZoneInfo("America/New_York")
DAY = dt.date(2027, 3, 2)  # a Tuesday


def _at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), NEW_YORK)


def _row(hour: int, minute: int = 0, first_hour: int = 8) -> int:
    """Grid row of a local time: row 1 is the heading, then one row per 5 minutes."""
    return 2 + ((hour - first_hour) * 60 + minute) // 5


def test_empty_day_runs_from_eight_to_seven_in_five_minute_rows() -> None:
    grid = lay_out_day(day=DAY, zone=NEW_YORK, entries=[])
    assert (grid.first_minute, grid.last_minute) == (8 * 60, 19 * 60)
    assert grid.rows == 11 * 12
    hours = [t.time for t in grid.ticks if t.hour]
    assert hours[0] == dt.time(8)
    assert hours[-1] == dt.time(18)
    assert len(grid.ticks) == 11 * 4  # a line every quarter hour


def test_visit_sits_between_the_rows_of_its_local_start_and_end() -> None:
    grid = lay_out_day(
        day=DAY, zone=NEW_YORK, entries=[Entry("a", "t1", _at(10).astimezone(dt.UTC), _at(11).astimezone(dt.UTC))]
    )
    span = grid.visits["a"]
    assert (span.column, span.row_start, span.row_end) == ("t1", _row(10), _row(11))
    assert (span.lane, span.lanes) == (0, 1)


def test_a_start_off_the_five_minute_grid_still_covers_its_time() -> None:
    grid = lay_out_day(day=DAY, zone=NEW_YORK, entries=[Entry("a", "t1", _at(10, 7), _at(10, 52))])
    assert grid.visits["a"].row_start == _row(10, 5)
    assert grid.visits["a"].row_end == _row(10, 55)


def test_axis_grows_to_whole_hours_around_early_and_late_visits_and_hours() -> None:
    grid = lay_out_day(
        day=DAY,
        zone=NEW_YORK,
        entries=[Entry("early", "t1", _at(7, 30), _at(8, 30)), Entry("late", "t2", _at(19, 30), _at(20, 10))],
        working={"t3": [(dt.time(6, 45), dt.time(12))]},
    )
    assert (grid.first_minute, grid.last_minute) == (6 * 60, 21 * 60)
    assert grid.visits["early"].row_start == _row(7, 30, first_hour=6)
    assert grid.working["t3"][0].row_start == _row(6, 45, first_hour=6)


def test_overlapping_visits_in_one_column_share_it_in_lanes() -> None:
    grid = lay_out_day(
        day=DAY,
        zone=NEW_YORK,
        entries=[
            Entry("no-show", "t1", _at(10), _at(11)),
            Entry("rebooked", "t1", _at(10, 30), _at(11, 30)),
            Entry("later", "t1", _at(12), _at(13)),
            Entry("elsewhere", "t2", _at(10), _at(11)),
        ],
    )
    assert (grid.visits["no-show"].lane, grid.visits["no-show"].lanes) == (0, 2)
    assert (grid.visits["rebooked"].lane, grid.visits["rebooked"].lanes) == (1, 2)
    assert (grid.visits["later"].lane, grid.visits["later"].lanes) == (0, 1)
    assert (grid.visits["elsewhere"].lane, grid.visits["elsewhere"].lanes) == (0, 1)


def test_back_to_back_visits_do_not_count_as_overlapping() -> None:
    grid = lay_out_day(
        day=DAY, zone=NEW_YORK, entries=[Entry("a", "t1", _at(9), _at(10)), Entry("b", "t1", _at(10), _at(11))]
    )
    assert grid.visits["a"].lanes == grid.visits["b"].lanes == 1


def test_time_away_is_clamped_to_the_day_and_working_hours_are_shaded() -> None:
    grid = lay_out_day(
        day=DAY,
        zone=NEW_YORK,
        entries=[],
        working={"t1": [(dt.time(9), dt.time(17))]},
        away={"t1": [(_at(15, day=DAY - dt.timedelta(days=1)), _at(12))]},
    )
    assert [(s.row_start, s.row_end) for s in grid.working["t1"]] == [(_row(9), _row(17))]
    assert [(s.row_start, s.row_end) for s in grid.away["t1"]] == [(_row(8), _row(12))]


def test_now_line_only_on_the_day_shown() -> None:
    assert lay_out_day(day=DAY, zone=NEW_YORK, entries=[], now=_at(14, 20)).now_row == _row(14, 20)
    tomorrow = DAY + dt.timedelta(days=1)
    assert lay_out_day(day=DAY, zone=NEW_YORK, entries=[], now=_at(14, day=tomorrow)).now_row is None


def test_local_minutes_follow_the_wall_clock_across_the_spring_change() -> None:
    change = dt.date(2027, 3, 14)  # 02:00 EST becomes 03:00 EDT
    start = dt.datetime(2027, 3, 14, 6, 30, tzinfo=dt.UTC)  # 01:30 EST
    end = start + dt.timedelta(hours=1)  # 03:30 EDT: one real hour, two on the wall
    assert minute_of_day(start, change, NEW_YORK) == 90
    assert minute_of_day(end, change, NEW_YORK) == 210
    grid = lay_out_day(day=change, zone=NEW_YORK, entries=[Entry("a", "t1", start, end)])
    assert grid.first_minute == 60
    assert grid.visits["a"].row_end - grid.visits["a"].row_start == 24


def test_a_visit_past_midnight_is_cut_at_the_end_of_the_day() -> None:
    grid = lay_out_day(day=DAY, zone=NEW_YORK, entries=[Entry("a", "t1", _at(23), _at(1, day=DAY + dt.timedelta(1)))])
    assert grid.last_minute == 24 * 60
    assert grid.visits["a"].row_end == 2 + grid.rows
