"""Building iCalendar bytes from read models. Pure: no framework, no ORM.

This first piece builds the single-appointment `.ics` a client adds from the booking confirmation;
the subscription feeds (series with RRULE, overrides, VTIMEZONE) grow here too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from icalendar import Calendar, Event

PRODID = "-//Carebook//Carebook Scheduling//EN"


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


def single_event_calendar(event: EventView) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    vevent = Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", event.last_modified.astimezone(dt.UTC))
    vevent.add("last-modified", event.last_modified.astimezone(dt.UTC))
    vevent.add("dtstart", event.start.astimezone(dt.UTC))
    vevent.add("dtend", event.end.astimezone(dt.UTC))
    vevent.add("summary", event.summary)
    if event.location:
        vevent.add("location", event.location)
    if event.description:
        vevent.add("description", event.description)
    vevent.add("sequence", event.sequence)
    vevent.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
    vevent.add("transp", "OPAQUE")
    calendar.add_component(vevent)
    body: bytes = calendar.to_ical()
    return body
