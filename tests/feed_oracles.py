"""Independent readers of our feeds, and the lint rules every feed must pass.

Three engines expand a feed into occurrences: recurring-ical-events (on icalendar + zoneinfo), `ical`
(a strict parser with its own recurrence code) and ical.js under Node (its own RRULE engine, and the only
one that takes its time zones from the VTIMEZONE bodies in the file). Each returns a sorted list of
`Occurrence`s, so a duplicate or a missing instance shows up as a difference.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import recurring_ical_events
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

ORACLES = Path(__file__).parent / "oracles"


class Occurrence(NamedTuple):
    start_utc: dt.datetime
    end_utc: dt.datetime
    start_local: dt.datetime  # naive wall time in the practice's zone
    end_local: dt.datetime


def occurrence(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> Occurrence:
    return Occurrence(
        start.astimezone(dt.UTC),
        end.astimezone(dt.UTC),
        start.astimezone(zone).replace(tzinfo=None),
        end.astimezone(zone).replace(tzinfo=None),
    )


def by_recurring_ical_events(body: bytes, start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> list[Occurrence]:
    calendar = Calendar.from_ical(body)
    return sorted(
        occurrence(e["DTSTART"].dt, e["DTEND"].dt, zone) for e in recurring_ical_events.of(calendar).between(start, end)
    )


def by_ical(body: bytes, start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> list[Occurrence]:
    calendar = IcsCalendarStream.calendar_from_ics(body.decode())
    return sorted(occurrence(e.start, e.end, zone) for e in calendar.timeline_tz(dt.UTC).overlapping(start, end))  # type: ignore[arg-type]


def node_available() -> bool:
    """Whether the ical.js oracle can run. In CI it must: there a missing Node or ical.js fails the run."""
    if os.environ.get("CI", "").lower() == "true":
        return True
    return shutil.which("node") is not None and (ORACLES / "node_modules" / "ical.js").is_dir()


def by_icaljs(body: bytes, start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> list[Occurrence]:
    """ical.js's reading; its local wall times (from the VTIMEZONE bodies) must match zoneinfo's."""
    with tempfile.NamedTemporaryFile(suffix=".ics") as file:
        file.write(body)
        file.flush()
        completed = subprocess.run(
            ["node", str(ORACLES / "icaljs_expand.mjs"), file.name, _iso(start), _iso(end)],
            capture_output=True,
            check=True,
            timeout=60,
        )
    found = []
    for item in json.loads(completed.stdout):
        result = occurrence(_parse_utc(item["start_utc"]), _parse_utc(item["end_utc"]), zone)
        if item["tzid"] == zone.key:
            # ical.js's own conversion through the VTIMEZONE must give the wall time zoneinfo gives.
            assert dt.datetime.fromisoformat(item["start_local"]) == result.start_local, item
            assert dt.datetime.fromisoformat(item["end_local"]) == result.end_local, item
        found.append(result)
    return sorted(found)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_utc(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def lint(body: bytes) -> list[str]:
    """Problems calendar apps are known to trip over; an empty list means the feed is clean."""
    problems: list[str] = []
    calendar = Calendar.from_ical(body)
    for component in calendar.walk():
        if component.errors:
            problems.append(f"{component.name} parse errors: {component.errors}")
    if b"METHOD:" in body:
        problems.append("METHOD present")
    if b"\r\nREFRESH-INTERVAL;VALUE=DURATION:" not in body:
        problems.append("REFRESH-INTERVAL without VALUE=DURATION")
    lines = body.decode().replace("\r\n ", "").split("\r\n")
    for line in lines:
        if line.startswith("RRULE:") and "UNTIL=" in line:
            until = line.split("UNTIL=")[1].split(";")[0]
            if not until.endswith("Z"):
                problems.append(f"local UNTIL: {line}")
    problems.extend(_sequence_problems(calendar))
    problems.extend(_recurrence_problems(calendar))
    return problems


def _sequence_problems(calendar: Calendar) -> list[str]:
    problems: list[str] = []
    sequences: dict[str, set[int]] = defaultdict(set)
    for event in calendar.walk("VEVENT"):
        sequences[str(event["UID"])].add(int(event.get("SEQUENCE", 0)))
    problems.extend(f"UID {uid} has SEQUENCEs {sorted(seqs)}" for uid, seqs in sequences.items() if len(seqs) > 1)
    return problems


def _recurrence_problems(calendar: Calendar) -> list[str]:
    """EXDATE and RECURRENCE-ID share the master DTSTART's TZID and time of day."""
    problems: list[str] = []
    masters = {str(e["UID"]): e for e in calendar.walk("VEVENT") if "RRULE" in e}
    for event in calendar.walk("VEVENT"):
        uid = str(event["UID"])
        if "RRULE" in event:
            start = event["DTSTART"]
            tzid = start.params.get("TZID")
            if tzid is None:
                problems.append(f"master {uid} DTSTART without TZID")
            exdates = event.get("EXDATE", [])
            for exdate in exdates if isinstance(exdates, list) else [exdates]:
                if exdate.params.get("TZID") != tzid:
                    problems.append(f"EXDATE of {uid} in {exdate.params.get('TZID')}, DTSTART in {tzid}")
                problems.extend(
                    f"EXDATE {d.dt} of {uid} not at DTSTART's time of day"
                    for d in exdate.dts
                    if d.dt.time() != start.dt.time()
                )
        if "RECURRENCE-ID" in event:
            master = masters.get(uid)
            if master is None:
                problems.append(f"override {uid} without a master")
                continue
            recurrence = event["RECURRENCE-ID"]
            if recurrence.params.get("TZID") != master["DTSTART"].params.get("TZID"):
                problems.append(f"RECURRENCE-ID of {uid} not in DTSTART's TZID")
            if recurrence.dt.time() != master["DTSTART"].dt.time():
                problems.append(f"RECURRENCE-ID of {uid} not at DTSTART's time of day")
    return problems
