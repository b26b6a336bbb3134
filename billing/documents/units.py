"""CPT time units by the 8-minute rule (CMS): one unit per 15 minutes, rounded at the midpoint."""

from __future__ import annotations

UNIT_MINUTES = 15
MINIMUM_BILLABLE_MINUTES = 8


def cpt_units(minutes: int) -> int:
    """Units for one timed service: <8 min = 0, 8-22 = 1, 23-37 = 2, 38-52 = 3, 53-67 = 4, …

    A unit is 15 minutes; the remainder counts as one more unit when it is 8 minutes or more.
    """
    if minutes < 0:
        msg = "minutes must not be negative"
        raise ValueError(msg)
    if minutes < MINIMUM_BILLABLE_MINUTES:
        return 0
    whole, remainder = divmod(minutes, UNIT_MINUTES)
    return whole + (1 if remainder >= MINIMUM_BILLABLE_MINUTES else 0)
