"""Lays out one local day as the front desk's grid: a time axis in 5-minute rows, one column per therapist
(or room), and each visit placed by its local start and end.

Pure: standard library only. Rows count local wall-clock minutes, so the axis reads 08:00-19:00 on the
days the clocks change too; a visit spanning the change simply looks an hour longer or shorter than it
lasts, and its label gives the true times. Visits that overlap in one column (a no-show and the visit
booked into its freed time) share the column side by side in lanes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

ROW_MINUTES = 5
DAY_MINUTES = 24 * 60
DEFAULT_OPENS = dt.time(8)
DEFAULT_CLOSES = dt.time(19)
HEADER_ROWS = 1  # grid row 1 holds the column headings; time rows start at row 2


@dataclass(frozen=True)
class Entry:
    """Something to place: a visit (by key) in a column, from `start` to `end` (aware datetimes)."""

    key: str
    column: str
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Span:
    """Grid rows [row_start, row_end) of one column; for visits, the lane it takes of `lanes`."""

    column: str
    row_start: int
    row_end: int
    lane: int = 0
    lanes: int = 1


@dataclass(frozen=True)
class Tick:
    time: dt.time  # the local wall-clock time of the line; pages label it through scheduler.format
    row: int
    hour: bool  # an hour line (else a quarter-hour line)


@dataclass
class DayGrid:
    first_minute: int  # local minute of day at the top of the axis (on the hour)
    last_minute: int  # local minute of day at the bottom (on the hour)
    ticks: list[Tick]
    visits: dict[str, Span]
    working: dict[str, list[Span]] = field(default_factory=dict)
    away: dict[str, list[Span]] = field(default_factory=dict)
    now_row: int | None = None

    @property
    def rows(self) -> int:
        return (self.last_minute - self.first_minute) // ROW_MINUTES


def minute_of_day(value: dt.datetime, day: dt.date, zone: ZoneInfo) -> int:
    """The local wall-clock minute of `value` on `day`, clamped to the day (0 … 1440)."""
    local = value.astimezone(zone)
    if local.date() < day:
        return 0
    if local.date() > day:
        return DAY_MINUTES
    return local.hour * 60 + local.minute


def _minutes(time: dt.time) -> int:
    return time.hour * 60 + time.minute


def _floor_hour(minute: int) -> int:
    return minute - minute % 60


def _ceil_hour(minute: int) -> int:
    return min(DAY_MINUTES, -(-minute // 60) * 60)


def _lanes(entries: list[tuple[int, int, str]]) -> dict[str, tuple[int, int]]:
    """Lane and lane count per key for one column; overlapping runs of visits split the width evenly."""
    placed: dict[str, tuple[int, int]] = {}
    cluster: list[tuple[str, int]] = []
    lane_ends: list[int] = []
    cluster_end = -1

    def close() -> None:
        for key, lane in cluster:
            placed[key] = (lane, len(lane_ends))

    for start, end, key in sorted(entries):
        if start >= cluster_end and cluster:
            close()
            cluster, lane_ends = [], []
        lane = next((i for i, lane_end in enumerate(lane_ends) if lane_end <= start), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(end)
        else:
            lane_ends[lane] = end
        cluster.append((key, lane))
        cluster_end = max(cluster_end, end)
    if cluster:
        close()
    return placed


def lay_out_day(
    *,
    day: dt.date,
    zone: ZoneInfo,
    entries: Sequence[Entry],
    working: Mapping[str, Sequence[tuple[dt.time, dt.time]]] | None = None,
    away: Mapping[str, Sequence[tuple[dt.datetime, dt.datetime]]] | None = None,
    now: dt.datetime | None = None,
    opens: dt.time = DEFAULT_OPENS,
    closes: dt.time = DEFAULT_CLOSES,
) -> DayGrid:
    """Place visits, working hours and time away on the day's grid; the axis grows to fit what is on it."""
    working = working or {}
    away = away or {}
    spans = [(minute_of_day(e.start, day, zone), minute_of_day(e.end, day, zone), e) for e in entries]
    away_minutes = {
        column: [(minute_of_day(s, day, zone), minute_of_day(e, day, zone)) for s, e in intervals]
        for column, intervals in away.items()
    }
    work_minutes = {
        column: [(_minutes(s), _minutes(e) if e != dt.time(0) else DAY_MINUTES) for s, e in windows]
        for column, windows in working.items()
    }
    starts = [_minutes(opens)] + [s for s, _, _ in spans] + [s for w in work_minutes.values() for s, _ in w]
    ends = [_minutes(closes)] + [e for _, e, _ in spans] + [e for w in work_minutes.values() for _, e in w]
    first = _floor_hour(min(starts))
    last = max(_ceil_hour(max(ends)), first + 60)

    def row(minute: int) -> int:
        clamped = min(max(minute, first), last)
        return HEADER_ROWS + 1 + (clamped - first) // ROW_MINUTES

    def row_end(minute: int) -> int:
        clamped = min(max(minute, first), last)
        return HEADER_ROWS + 1 + -(-(clamped - first) // ROW_MINUTES)

    def span(column: str, start: int, end: int, lane: int = 0, lanes: int = 1) -> Span:
        top = row(start)
        return Span(column, top, max(row_end(end), top + 1), lane, lanes)

    by_column: dict[str, list[tuple[int, int, str]]] = {}
    for start, end, entry in spans:
        by_column.setdefault(entry.column, []).append((start, max(end, start + 1), entry.key))
    visits: dict[str, Span] = {}
    for column, items in by_column.items():
        lanes = _lanes(items)
        for start, end, key in items:
            visits[key] = span(column, start, end, *lanes[key])

    ticks = [
        Tick(dt.time(minute // 60, minute % 60), row(minute), minute % 60 == 0) for minute in range(first, last, 15)
    ]
    now_row = None
    if now is not None and now.astimezone(zone).date() == day:
        minute = minute_of_day(now, day, zone)
        if first <= minute < last:
            now_row = row(minute)
    return DayGrid(
        first_minute=first,
        last_minute=last,
        ticks=ticks,
        visits=visits,
        working={c: [span(c, s, e) for s, e in w if e > first and s < last] for c, w in work_minutes.items()},
        away={c: [span(c, s, e) for s, e in a if e > s] for c, a in away_minutes.items()},
        now_row=now_row,
    )
