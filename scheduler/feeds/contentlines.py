"""RFC 5545 content lines: escaping, parameter quoting, folding at 75 octets, date-time formats.

The feed writes its components with these instead of building icalendar objects: a feed of a few
thousand events is built in a fraction of the time icalendar needs just to serialise it, and the
tests parse every body back with three independent parsers.
"""

from __future__ import annotations

import datetime as dt

CRLF = "\r\n"
_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", ";": "\\;", ",": "\\,", "\n": "\\n", "\r": ""})
_FOLD_OCTETS = 75


def text(value: str) -> str:
    """A TEXT value: backslash, semicolon, comma and newline escaped."""
    return value.translate(_TEXT_ESCAPES)


def param(value: str) -> str:
    """A parameter value, quoted when it holds a character that would end it."""
    if any(c in value for c in ':;,"'):
        return '"' + value.replace('"', "") + '"'
    return value


def local(moment: dt.datetime) -> str:
    """A naive wall time as a DATE-TIME (used with a TZID parameter)."""
    return moment.strftime("%Y%m%dT%H%M%S")


def utc(moment: dt.datetime) -> str:
    """An aware instant as a UTC DATE-TIME ending in Z."""
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def fold(line: str) -> str:
    """One content line plus CRLF, folded so no physical line exceeds 75 octets (never inside a UTF-8 sequence)."""
    if len(line) <= _FOLD_OCTETS and line.isascii():
        return line + CRLF
    encoded = line.encode()
    if len(encoded) <= _FOLD_OCTETS:
        return line + CRLF
    parts: list[str] = []
    start = 0
    limit = _FOLD_OCTETS
    while start < len(encoded):
        end = min(start + limit, len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:  # do not cut a multi-byte character
            end -= 1
        parts.append(encoded[start:end].decode())
        start = end
        limit = _FOLD_OCTETS - 1  # continuation lines start with a space
    return (CRLF + " ").join(parts) + CRLF
