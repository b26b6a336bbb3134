"""How pages show money, dates, times and time zones to people (US English, through Babel's CLDR data).

Pure: no framework, no database. Amounts arrive as integer minor units and never pass through a float.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_date
from babel.dates import format_time as _babel_time
from babel.dates import get_timezone_name
from babel.numbers import format_currency, get_currency_precision

LOCALE = "en_US"
EN_DASH = "\u2013"


def format_money(minor: int, currency: str) -> str:
    """120_00 USD -> '$120.00'; 120_00 EUR -> '€120.00'; 1200 JPY -> '¥1,200' (each currency's own precision)."""
    amount = Decimal(minor).scaleb(-get_currency_precision(currency))
    return str(format_currency(amount, currency, locale=LOCALE))


def format_time(moment: dt.datetime, zone: ZoneInfo) -> str:
    """The local clock time in `zone`: '9:00 AM'."""
    return format_clock(moment.astimezone(zone).time())


def format_clock(value: dt.time) -> str:
    """A wall-clock time that has no zone to convert from (working hours, a weekly start): '9:00 AM'."""
    return str(_babel_time(value, "h:mm a", locale=LOCALE))


def format_clock_range(start: dt.time, end: dt.time) -> str:
    """'9:00 AM to 5:00 PM' with an en dash, for wall-clock times."""
    return f"{format_clock(start)} {EN_DASH} {format_clock(end)}"


def format_axis_time(value: dt.time) -> str:
    """A time-axis label, as short as it can be: '9 AM' on the hour (CLDR skeleton 'h'), else '9:15 AM'."""
    return str(_babel_time(value, "h a" if value.minute == 0 else "h:mm a", locale=LOCALE))


def format_day(day: dt.date) -> str:
    """'Tuesday, March 2'."""
    return str(_babel_date(day, "EEEE, MMMM d", locale=LOCALE))


def format_long_day(day: dt.date) -> str:
    """'Tuesday, March 2, 2027'."""
    return str(_babel_date(day, "EEEE, MMMM d, y", locale=LOCALE))


def format_short_day(day: dt.date) -> str:
    """'Mar 2'."""
    return str(_babel_date(day, "MMM d", locale=LOCALE))


def format_weekday_day(day: dt.date) -> str:
    """'Tue, Mar 2' (CLDR skeleton 'MMMEd')."""
    return str(_babel_date(day, "EEE, MMM d", locale=LOCALE))


def format_weekday_date(day: dt.date) -> str:
    """'Tue, Mar 2, 2027' (CLDR skeleton 'yMMMEd')."""
    return str(_babel_date(day, "EEE, MMM d, y", locale=LOCALE))


def format_date(day: dt.date) -> str:
    """'Mar 2, 2027' (CLDR medium date)."""
    return str(_babel_date(day, "MMM d, y", locale=LOCALE))


def format_time_range(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> str:
    """'9:00 AM to 10:00 AM' with an en dash, in `zone`."""
    return f"{format_time(start, zone)} {EN_DASH} {format_time(end, zone)}"


def format_day_range(first: dt.date, last: dt.date) -> str:
    """'Mar 2 to Mar 8, 2027' with an en dash (the year once, from the last day)."""
    return f"{format_short_day(first)} {EN_DASH} {format_short_day(last)}, {last.year}"


def format_when(moment: dt.datetime, zone: ZoneInfo) -> str:
    """'Tuesday, March 2, 2027 at 9:00 AM' in `zone`."""
    local = moment.astimezone(zone)
    return f"{format_long_day(local.date())} at {format_time(local, zone)}"


def format_visit_when(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> str:
    """'Tuesday, March 2, 2027, 9:00 AM to 10:00 AM' with an en dash, in `zone` (CLDR joins date and time with ', ')."""
    return f"{format_long_day(start.astimezone(zone).date())}, {format_time_range(start, end, zone)}"


def format_short_when(moment: dt.datetime, zone: ZoneInfo) -> str:
    """'Tue, Mar 2, 9:00 AM' in `zone`: a moment near enough that the year goes without saying."""
    local = moment.astimezone(zone)
    return f"{format_weekday_day(local.date())}, {format_time(local, zone)}"


def format_weekday_when(moment: dt.datetime, zone: ZoneInfo) -> str:
    """'Tue, Mar 2, 2027, 9:00 AM' in `zone`: a moment that may be months away, with its weekday."""
    local = moment.astimezone(zone)
    return f"{format_weekday_date(local.date())}, {format_time(local, zone)}"


def format_stamp(moment: dt.datetime, zone: ZoneInfo, *, with_zone: bool = False) -> str:
    """When something happened: 'Mar 2, 2027, 9:00 AM' in `zone`, with 'EST' after it if `with_zone`."""
    local = moment.astimezone(zone)
    stamp = format_wall_stamp(local)
    return f"{stamp} {local.tzname()}" if with_zone and local.tzname() else stamp


def format_wall_stamp(local: dt.datetime) -> str:
    """'Mar 2, 2027, 9:00 AM' for a datetime already on the local wall clock (a plan's naive first start)."""
    return f"{format_date(local.date())}, {format_clock(local.time())}"


def zone_name(zone: ZoneInfo) -> str:
    """The zone as people say it: 'Eastern Time' for America/New_York (the IANA name when CLDR has none)."""
    name = str(get_timezone_name(zone, locale=LOCALE))
    return name or zone.key


def tel_href(phone: str) -> str:
    """A `tel:` URL for a phone number as the practice typed it: '+1 718 555 0142' -> 'tel:+17185550142'."""
    return "tel:" + re.sub(r"[^\d+]", "", phone)


# The Jinja filters pages use instead of strftime: `{{ day | date }}`, `{{ sent_at | stamp(zone) }}`.
FILTERS: dict[str, Callable[..., str]] = {
    "axis_time": format_axis_time,
    "date": format_date,
    "stamp": format_stamp,
    "wall_stamp": format_wall_stamp,
}
