"""The single-appointment `.ics` (a booking's `calendar_url`, the e-mail attachments about visits).

Built by the same builder as the subscription feeds: local wall time with TZID and an RRULE-form
VTIMEZONE, a stable UID, and SEQUENCE so a re-download after a change replaces the earlier copy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.feeds.build import PRODID, build_calendar
from scheduler.feeds.model import FeedCalendar, FeedEvent

__all__ = ["PRODID", "EventView", "events_calendar", "single_event_calendar"]


@dataclass(frozen=True)
class EventView:
    uid: str
    start: dt.datetime  # aware
    end: dt.datetime  # aware
    summary: str
    location: str
    description: str
    sequence: int
    last_modified: dt.datetime  # aware; DTSTAMP comes from the data so unchanged data gives equal bytes
    cancelled: bool = False
    tzid: str = "UTC"  # the practice's zone


def single_event_calendar(event: EventView) -> bytes:
    return events_calendar([event])


def events_calendar(events: Sequence[EventView]) -> bytes:
    """Several single appointments of one practice in one download (a notice about a series change).

    Each keeps its own UID and SEQUENCE, so importing it updates the visits one by one, exactly as
    their single-appointment downloads would.
    """
    if not events:
        raise ValueError("a calendar download needs at least one event")
    return build_calendar(
        FeedCalendar(
            name="",
            uid="",
            tzid=events[0].tzid,
            refresh_interval=None,
            events=tuple(
                FeedEvent(
                    uid=event.uid,
                    start=event.start,
                    end=event.end,
                    summary=event.summary,
                    location=event.location,
                    sequence=event.sequence,
                    last_modified=event.last_modified,
                    description=event.description,
                    cancelled=event.cancelled,
                )
                for event in events
            ),
        )
    )
