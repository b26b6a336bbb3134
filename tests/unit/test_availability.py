"""The availability engine: which starts a client is offered, and why a requested start is refused.

Times are in America/New_York unless a test says otherwise. DST facts used below (all Sundays):
2026-03-08 and 2027-03-14 spring forward (02:00 EST -> 03:00 EDT); 2026-11-01 falls back
(02:00 EDT -> 01:00 EST, so 01:00-01:59 happens twice).

Python subtracts two datetimes that share a tzinfo as wall times, so real elapsed time is always
measured through UTC here (`elapsed`).
"""

from __future__ import annotations

import ast
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from scheduler.booking import availability
from scheduler.booking.availability import (
    BookingPolicy,
    ExtraHours,
    Interval,
    RoomCalendar,
    ServiceRule,
    Slot,
    SlotRejected,
    TherapistCalendar,
    WeeklyHours,
    block_for,
    check_slot,
    find_slots,
)

NY = ZoneInfo("America/New_York")
ANNA = UUID(int=1)
BEN = UUID(int=2)
ROOM_A = UUID(int=101)
ROOM_B = UUID(int=102)
UNKNOWN_ROOM = UUID(int=199)

EVERY_DAY_9_TO_5 = tuple(WeeklyHours(weekday, time(9), time(17)) for weekday in range(7))
WEEKDAYS_9_TO_5 = tuple(WeeklyHours(weekday, time(9), time(17)) for weekday in range(5))
MASSAGE = ServiceRule(duration=timedelta(minutes=60), room_ids=frozenset())  # needs no room
MASSAGE_IN_ANY_ROOM = ServiceRule(duration=timedelta(minutes=60))
OPEN = BookingPolicy(min_notice=timedelta(0), horizon=timedelta(days=3650))  # neither notice nor horizon bites
LONG_AGO = datetime(2026, 1, 1, tzinfo=NY)
MONDAY = date(2026, 6, 1)  # an ordinary Monday, far from DST changes


def ny(day: date, hour: int, minute: int = 0, *, fold: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY, fold=fold)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def elapsed(start: datetime, end: datetime) -> timedelta:
    return end.astimezone(UTC) - start.astimezone(UTC)


def minutes(count: int) -> timedelta:
    return timedelta(minutes=count)


def anna(**changes: Any) -> TherapistCalendar:
    return replace(TherapistCalendar(ANNA, EVERY_DAY_9_TO_5), **changes)


def slots(
    *,
    on: date,
    to: date | None = None,
    service: ServiceRule = MASSAGE,
    therapists: Sequence[TherapistCalendar] | None = None,
    rooms: Sequence[RoomCalendar] = (),
    policy: BookingPolicy = OPEN,
    now: datetime = LONG_AGO,
) -> list[Slot]:
    return find_slots(
        zone=NY,
        date_from=on,
        date_to=on if to is None else to,
        service=service,
        therapists=[anna()] if therapists is None else therapists,
        rooms=rooms,
        policy=policy,
        now=now,
    )


def walls(found: Sequence[Slot]) -> list[str]:
    return [slot.start.strftime("%H:%M") for slot in found]


def check(
    start: datetime,
    *,
    therapist: TherapistCalendar | None = None,
    service: ServiceRule = MASSAGE,
    rooms: Sequence[RoomCalendar] = (),
    policy: BookingPolicy = OPEN,
    now: datetime = LONG_AGO,
) -> UUID | None:
    return check_slot(
        zone=NY,
        start=start,
        service=service,
        therapist=anna() if therapist is None else therapist,
        rooms=rooms,
        policy=policy,
        now=now,
    )


def grid(first: str, last: str, step: int = 15) -> list[str]:
    """Wall times "HH:MM" from `first` to `last` inclusive, every `step` minutes."""
    at = datetime.strptime(first, "%H:%M")  # noqa: DTZ007 - a bare wall time
    stop = datetime.strptime(last, "%H:%M")  # noqa: DTZ007
    found = []
    while at <= stop:
        found.append(at.strftime("%H:%M"))
        at += timedelta(minutes=step)
    return found


# --------------------------------------------------------------------------------------------------
# Daylight saving time
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "offset_hours"),
    [
        pytest.param(date(2026, 10, 31), -4, id="november-day-before"),
        pytest.param(date(2026, 11, 1), -5, id="november-change-day"),
        pytest.param(date(2026, 11, 2), -5, id="november-day-after"),
        pytest.param(date(2026, 3, 7), -5, id="march-day-before"),
        pytest.param(date(2026, 3, 8), -4, id="march-change-day"),
        pytest.param(date(2026, 3, 9), -4, id="march-day-after"),
    ],
)
def test_weekly_nine_am_is_offered_at_nine_local_on_both_sides_of_a_dst_change(day: date, offset_hours: int) -> None:
    found = slots(on=day)

    assert walls(found) == grid("09:00", "16:00")
    first = found[0]
    assert first.start.tzinfo is NY
    assert first.start.utcoffset() == timedelta(hours=offset_hours)
    assert first.start.astimezone(UTC).hour == 9 - offset_hours  # 13:00 UTC in summer, 14:00 UTC in winter
    assert all(elapsed(slot.start, slot.end) == minutes(60) for slot in found)


def test_weekly_nine_am_is_offered_at_nine_local_on_both_sides_of_november_dst_change() -> None:
    before, after = slots(on=date(2026, 10, 31))[0].start, slots(on=date(2026, 11, 2))[0].start

    assert (before.hour, after.hour) == (9, 9)
    assert before.isoformat() == "2026-10-31T09:00:00-04:00"
    assert after.isoformat() == "2026-11-02T09:00:00-05:00"


SPRING_FORWARD = date(2027, 3, 14)
FALL_BACK = date(2026, 11, 1)


def test_no_slot_starts_in_the_spring_forward_gap() -> None:
    night_shift = TherapistCalendar(ANNA, weekly=(), extra=[ExtraHours(SPRING_FORWARD, time(1), time(4))])

    found = slots(on=SPRING_FORWARD, therapists=[night_shift])

    # 01:00-04:00 on the wall is only two real hours; 02:00-02:59 does not exist.
    assert walls(found) == ["01:00", "01:15", "01:30", "01:45", "03:00"]
    assert all(slot.start.hour != 2 for slot in found)
    assert found[-1].end.isoformat() == "2027-03-14T04:00:00-04:00"


def test_sixty_minute_massage_at_one_thirty_on_spring_forward_day_ends_at_three_thirty_local() -> None:
    night_shift = TherapistCalendar(ANNA, weekly=(), extra=[ExtraHours(SPRING_FORWARD, time(1), time(4))])

    half_past_one = next(slot for slot in slots(on=SPRING_FORWARD, therapists=[night_shift]) if slot.start.minute == 30)

    assert half_past_one.start.isoformat() == "2027-03-14T01:30:00-05:00"
    assert half_past_one.end.isoformat() == "2027-03-14T03:30:00-04:00"
    assert elapsed(half_past_one.start, half_past_one.end) == minutes(60)


def test_repeated_half_past_one_on_fall_back_day_is_offered_once_as_its_first_occurrence() -> None:
    # Documented behaviour: an ambiguous wall time means its first occurrence (fold=0, daylight time).
    # The repeated hour's second pass (01:00-01:59 EST) is never offered, so after 01:45 EDT the next
    # start is 02:00 EST, 75 real minutes later.
    night_shift = TherapistCalendar(ANNA, weekly=(), extra=[ExtraHours(FALL_BACK, time(1), time(3))])

    found = slots(on=FALL_BACK, therapists=[night_shift])

    assert [slot.start.astimezone(UTC).strftime("%H:%M") for slot in found] == [
        "05:00",
        "05:15",
        "05:30",
        "05:45",
        "07:00",
    ]
    assert walls(found) == ["01:00", "01:15", "01:30", "01:45", "02:00"]
    half_past_one = [slot for slot in found if slot.start.strftime("%H:%M") == "01:30"]
    assert len(half_past_one) == 1
    assert half_past_one[0].start.fold == 0
    assert half_past_one[0].start.utcoffset() == timedelta(hours=-4)
    second_half_past_one = utc(2026, 11, 1, 6, 30)
    assert second_half_past_one not in [slot.start for slot in found]


def test_fall_back_massage_at_one_thirty_ends_at_the_second_one_thirty() -> None:
    night_shift = TherapistCalendar(ANNA, weekly=(), extra=[ExtraHours(FALL_BACK, time(1), time(3))])

    half_past_one = slots(on=FALL_BACK, therapists=[night_shift])[2]

    assert half_past_one.end.strftime("%H:%M") == "01:30"
    assert half_past_one.end.fold == 1
    assert half_past_one.end.utcoffset() == timedelta(hours=-5)
    assert elapsed(half_past_one.start, half_past_one.end) == minutes(60)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Ends at 02:30, which does not exist: the window ends when the clocks jump (03:00 EDT),
        # so the last 60-minute start is 01:00 EST.
        pytest.param(time(0), time(2, 30), ["00:00", "00:15", "00:30", "00:45", "01:00"], id="end-in-gap"),
        # Starts at 02:30, which does not exist: the grid still steps from 02:30 on the wall and
        # 02:30 and 02:45 are skipped.
        pytest.param(time(2, 30), time(5), ["03:00", "03:15", "03:30", "03:45", "04:00"], id="start-in-gap"),
    ],
)
def test_window_boundary_inside_the_spring_forward_gap_means_the_moment_the_clocks_jump(
    start: time, end: time, expected: list[str]
) -> None:
    therapist = TherapistCalendar(ANNA, weekly=(), extra=[ExtraHours(SPRING_FORWARD, start, end)])

    assert walls(slots(on=SPRING_FORWARD, therapists=[therapist])) == expected


def test_grid_across_the_spring_forward_gap_keeps_its_wall_clock_phase() -> None:
    therapist = TherapistCalendar(ANNA, weekly=(), extra=[ExtraHours(SPRING_FORWARD, time(1), time(5))])

    found = slots(on=SPRING_FORWARD, therapists=[therapist], policy=replace(OPEN, granularity=minutes(20)))

    assert walls(found) == ["01:00", "01:20", "01:40", "03:00", "03:20", "03:40", "04:00"]


def test_therapist_in_another_zone_is_offered_in_the_practice_zone() -> None:
    london = ZoneInfo("Europe/London")
    # London changes on 2026-10-25, a week before New York: the offset gap shrinks from 5 to 4 hours.
    found = find_slots(
        zone=london,
        date_from=date(2026, 10, 24),
        date_to=date(2026, 10, 26),
        service=MASSAGE,
        therapists=[anna()],
        rooms=(),
        policy=OPEN,
        now=LONG_AGO,
    )

    firsts = {slot.start.date(): slot.start for slot in found if slot.start.hour == 9 and slot.start.minute == 0}
    assert [start.utcoffset() for start in firsts.values()] == [timedelta(hours=1), timedelta(0), timedelta(0)]
    assert all(slot.start.tzinfo is london for slot in found)


# --------------------------------------------------------------------------------------------------
# Busy blocks and buffers
# --------------------------------------------------------------------------------------------------

WITH_CLEANUP = ServiceRule(duration=minutes(60), buffer_after=minutes(15), room_ids=frozenset())
TEN_O_CLOCK_WITH_CLEANUP = block_for(ny(MONDAY, 10), WITH_CLEANUP)  # 10:00-11:15


def test_block_for_covers_the_buffers_either_side() -> None:
    rule = ServiceRule(duration=minutes(60), buffer_before=minutes(10), buffer_after=minutes(15))

    block = block_for(ny(MONDAY, 10), rule)

    assert (block.start, block.end) == (ny(MONDAY, 9, 50), ny(MONDAY, 11, 15))
    assert Interval(ny(MONDAY, 10), ny(MONDAY, 11, 15)) == TEN_O_CLOCK_WITH_CLEANUP


def test_block_for_uses_real_minutes_across_the_fall_back_change() -> None:
    block = block_for(ny(FALL_BACK, 1, 30), WITH_CLEANUP)

    assert block.end.isoformat() == "2026-11-01T01:45:00-05:00"
    assert elapsed(block.start, block.end) == minutes(75)


def test_appointment_cleanup_buffer_blocks_the_next_start_until_it_ends() -> None:
    found = walls(slots(on=MONDAY, therapists=[anna(busy=[TEN_O_CLOCK_WITH_CLEANUP])]))

    assert "11:00" not in found
    assert "11:15" in found
    assert "09:00" in found  # ends at 10:00, exactly when the booked block starts (half-open)
    assert "09:15" not in found


def test_new_service_before_buffer_must_clear_the_previous_block() -> None:
    prep_first = ServiceRule(duration=minutes(60), buffer_before=minutes(15), room_ids=frozenset())

    found = walls(slots(on=MONDAY, service=prep_first, therapists=[anna(busy=[TEN_O_CLOCK_WITH_CLEANUP])]))

    assert "11:15" not in found  # its block would start at 11:00, inside 10:00-11:15
    assert "11:30" in found


def test_new_service_after_buffer_must_clear_the_next_block() -> None:
    noon = Interval(ny(MONDAY, 12), ny(MONDAY, 13))

    found = walls(slots(on=MONDAY, service=WITH_CLEANUP, therapists=[anna(busy=[noon])]))

    assert "10:45" in found  # 10:45-11:45 plus cleanup to 12:00
    assert "11:00" not in found


def test_buffers_may_run_outside_working_hours() -> None:
    padded = ServiceRule(
        duration=minutes(60), buffer_before=minutes(30), buffer_after=minutes(30), room_ids=frozenset()
    )

    found = walls(slots(on=MONDAY, service=padded))

    assert found[0] == "09:00"
    assert found[-1] == "16:00"


def test_busy_blocks_given_in_utc_are_compared_as_instants() -> None:
    ten_to_eleven_in_utc = Interval(utc(2026, 6, 1, 14), utc(2026, 6, 1, 15))

    found = walls(slots(on=MONDAY, therapists=[anna(busy=[ten_to_eleven_in_utc])]))

    assert found == ["09:00", *grid("11:00", "16:00")]


def test_overlapping_busy_blocks_are_merged() -> None:
    busy = [
        Interval(ny(MONDAY, 10), ny(MONDAY, 11)),
        Interval(ny(MONDAY, 10, 30), ny(MONDAY, 12)),
        Interval(ny(MONDAY, 10, 45), ny(MONDAY, 11, 15)),  # inside the one before: must not shorten it
        Interval(ny(MONDAY, 13), ny(MONDAY, 13, 30)),
        Interval(ny(MONDAY, 13, 30), ny(MONDAY, 14)),  # touching: one block 13:00-14:00
        Interval(ny(MONDAY, 15), ny(MONDAY, 15)),  # empty: blocks nothing
    ]

    found = walls(slots(on=MONDAY, therapists=[anna(busy=busy)]))

    assert found == ["09:00", "12:00", *grid("14:00", "16:00")]


# --------------------------------------------------------------------------------------------------
# Time off, extra hours, grid, notice, horizon, date range
# --------------------------------------------------------------------------------------------------

LUNCH = Interval(ny(MONDAY, 12), ny(MONDAY, 13))


def test_time_off_removes_starts_whose_massage_would_overlap_it() -> None:
    found = walls(slots(on=MONDAY, therapists=[anna(time_off=[LUNCH])]))

    assert found == [*grid("09:00", "11:00"), *grid("13:00", "16:00")]


def test_buffers_may_overlap_time_off() -> None:
    found = walls(slots(on=MONDAY, service=WITH_CLEANUP, therapists=[anna(time_off=[LUNCH])]))

    assert "11:00" in found  # massage ends at 12:00; only the cleanup runs into lunch


def test_a_week_of_vacation_removes_every_start_in_it() -> None:
    vacation = Interval(ny(MONDAY, 0), ny(MONDAY + timedelta(days=3), 0))

    found = slots(on=MONDAY - timedelta(days=1), to=MONDAY + timedelta(days=4), therapists=[anna(time_off=[vacation])])

    assert sorted({slot.start.date() for slot in found}) == [
        MONDAY - timedelta(days=1),
        MONDAY + timedelta(days=3),
        MONDAY + timedelta(days=4),
    ]


SATURDAY = date(2026, 6, 6)


def test_extra_hours_on_a_saturday_are_offered_to_a_weekday_therapist() -> None:
    weekdays_only = TherapistCalendar(ANNA, WEEKDAYS_9_TO_5, extra=[ExtraHours(SATURDAY, time(10), time(12))])

    found = slots(on=SATURDAY, to=SATURDAY + timedelta(days=1), therapists=[weekdays_only])

    assert walls(found) == grid("10:00", "11:00")
    assert {slot.start.date() for slot in found} == {SATURDAY}


def test_weekday_therapist_is_not_offered_at_the_weekend() -> None:
    weekdays_only = TherapistCalendar(ANNA, WEEKDAYS_9_TO_5)

    assert slots(on=SATURDAY, to=SATURDAY + timedelta(days=1), therapists=[weekdays_only]) == []


def test_extra_hours_touching_weekly_hours_make_one_window() -> None:
    morning = TherapistCalendar(
        ANNA, [WeeklyHours(0, time(9), time(12))], extra=[ExtraHours(MONDAY, time(12), time(14))]
    )

    assert walls(slots(on=MONDAY, therapists=[morning])) == grid("09:00", "13:00")  # 11:30 spans the join


def test_overlapping_weekly_hours_do_not_offer_a_start_twice() -> None:
    doubled = TherapistCalendar(ANNA, [WeeklyHours(0, time(9), time(11)), WeeklyHours(0, time(10), time(12))])

    assert walls(slots(on=MONDAY, therapists=[doubled])) == grid("09:00", "11:00")


def test_granularity_of_thirty_minutes_offers_half_hours_only() -> None:
    found = walls(slots(on=MONDAY, policy=replace(OPEN, granularity=minutes(30))))

    assert found == grid("09:00", "16:00", step=30)


def test_grid_is_measured_from_the_start_of_each_working_window() -> None:
    split_day = TherapistCalendar(ANNA, [WeeklyHours(0, time(9), time(12)), WeeklyHours(0, time(13, 10), time(15))])

    found = walls(slots(on=MONDAY, therapists=[split_day], policy=replace(OPEN, granularity=minutes(30))))

    assert found == ["09:00", "09:30", "10:00", "10:30", "11:00", "13:10", "13:40"]


def test_min_notice_hides_starts_sooner_than_two_hours_and_offers_the_exact_boundary() -> None:
    policy = BookingPolicy()  # two hours' notice

    assert walls(slots(on=MONDAY, policy=policy, now=ny(MONDAY, 8)))[0] == "10:00"
    assert walls(slots(on=MONDAY, policy=policy, now=ny(MONDAY, 8, 1)))[0] == "10:15"


def test_min_notice_counts_real_time_across_the_spring_forward_change() -> None:
    night_shift = TherapistCalendar(ANNA, weekly=(), extra=[ExtraHours(SPRING_FORWARD, time(1), time(6))])

    found = slots(
        on=SPRING_FORWARD,
        therapists=[night_shift],
        policy=replace(OPEN, min_notice=minutes(60)),
        now=ny(SPRING_FORWARD, 1),
    )

    assert walls(found)[0] == "03:00"  # one real hour after 01:00 EST


def test_horizon_offers_the_last_instant_it_reaches_and_nothing_after() -> None:
    policy = replace(OPEN, horizon=timedelta(days=1))

    found = slots(on=MONDAY, to=MONDAY + timedelta(days=2), policy=policy, now=ny(MONDAY, 9))

    assert found[-1].start == ny(MONDAY + timedelta(days=1), 9)
    assert {slot.start.date() for slot in found} == {MONDAY, MONDAY + timedelta(days=1)}


def test_default_horizon_is_ninety_days() -> None:
    policy = replace(BookingPolicy(), min_notice=timedelta(0))
    now = ny(MONDAY, 9)

    found = slots(on=MONDAY + timedelta(days=89), to=MONDAY + timedelta(days=91), policy=policy, now=now)

    assert found[-1].start == ny(MONDAY + timedelta(days=90), 9)


@pytest.mark.parametrize("length", [1, 3, 7])
def test_date_to_is_inclusive(length: int) -> None:
    last = MONDAY + timedelta(days=length - 1)

    found = slots(on=MONDAY, to=last)

    assert sorted({slot.start.date() for slot in found}) == [MONDAY + timedelta(days=n) for n in range(length)]


def test_reversed_date_range_offers_nothing() -> None:
    assert slots(on=MONDAY, to=MONDAY - timedelta(days=1)) == []


def test_slots_come_sorted_by_start_then_therapist() -> None:
    ben = TherapistCalendar(BEN, [WeeklyHours(0, time(8), time(12))])

    found = slots(on=MONDAY, therapists=[ben, anna()])

    keys = [(slot.start.astimezone(UTC), slot.therapist_id) for slot in found]
    assert keys == sorted(keys)
    assert [slot.therapist_id for slot in found if slot.start == ny(MONDAY, 9)] == [ANNA, BEN]
    assert found[0].therapist_id == BEN


# --------------------------------------------------------------------------------------------------
# Rooms
# --------------------------------------------------------------------------------------------------

ROOM_A_BUSY_AT_TEN = RoomCalendar(ROOM_A, [Interval(ny(MONDAY, 10), ny(MONDAY, 11))])
ROOM_B_FREE = RoomCalendar(ROOM_B)


def test_two_free_therapists_are_each_offered_the_only_free_room() -> None:
    # Rooms are a per-slot check: each therapist's slot is reported on its own, so both are offered
    # 10:00 in room B even though only one of them can have it. Booking re-checks with check_slot.
    ben = TherapistCalendar(BEN, EVERY_DAY_9_TO_5)

    found = slots(
        on=MONDAY, service=MASSAGE_IN_ANY_ROOM, therapists=[anna(), ben], rooms=[ROOM_A_BUSY_AT_TEN, ROOM_B_FREE]
    )

    at_ten = [(slot.therapist_id, slot.room_id) for slot in found if slot.start == ny(MONDAY, 10)]
    assert at_ten == [(ANNA, ROOM_B), (BEN, ROOM_B)]


def test_first_free_room_by_sorted_id_is_chosen() -> None:
    found = slots(on=MONDAY, service=MASSAGE_IN_ANY_ROOM, rooms=[ROOM_B_FREE, RoomCalendar(ROOM_A)])

    assert {slot.room_id for slot in found} == {ROOM_A}


def test_service_restricted_to_a_busy_room_is_not_offered_while_it_is_busy() -> None:
    room_a_only = ServiceRule(duration=minutes(60), room_ids=frozenset({ROOM_A}))

    found = slots(on=MONDAY, service=room_a_only, rooms=[ROOM_A_BUSY_AT_TEN, ROOM_B_FREE])

    assert walls(found) == ["09:00", *grid("11:00", "16:00")]
    assert {slot.room_id for slot in found} == {ROOM_A}


def test_room_check_includes_the_service_buffers() -> None:
    cleanup_in_room = ServiceRule(duration=minutes(60), buffer_after=minutes(15), room_ids=frozenset({ROOM_A}))

    found = walls(slots(on=MONDAY, service=cleanup_in_room, rooms=[ROOM_A_BUSY_AT_TEN]))

    assert "08:45" not in found
    assert "09:00" not in found  # 09:00-10:00 plus cleanup to 10:15 runs into room A's 10:00 booking
    assert "11:00" in found


def test_service_needing_no_room_is_offered_without_any_room() -> None:
    found = slots(on=MONDAY, service=MASSAGE, rooms=())

    assert found
    assert {slot.room_id for slot in found} == {None}


def test_service_needing_a_room_offers_nothing_when_no_room_is_given() -> None:
    assert slots(on=MONDAY, service=MASSAGE_IN_ANY_ROOM, rooms=()) == []


def test_service_whose_rooms_were_not_given_offers_nothing() -> None:
    elsewhere = ServiceRule(duration=minutes(60), room_ids=frozenset({UNKNOWN_ROOM}))

    assert slots(on=MONDAY, service=elsewhere, rooms=[ROOM_B_FREE]) == []


def test_the_same_room_listed_twice_counts_both_calendars() -> None:
    split = [
        RoomCalendar(ROOM_A, [Interval(ny(MONDAY, 9), ny(MONDAY, 12))]),
        RoomCalendar(ROOM_A, [Interval(ny(MONDAY, 12), ny(MONDAY, 17))]),
    ]

    assert slots(on=MONDAY, service=MASSAGE_IN_ANY_ROOM, rooms=split) == []


# --------------------------------------------------------------------------------------------------
# check_slot: one requested start, and why it fails
# --------------------------------------------------------------------------------------------------

NIGHT_SHIFT = TherapistCalendar(
    ANNA,
    weekly=(),
    extra=[ExtraHours(SPRING_FORWARD, time(1), time(4)), ExtraHours(FALL_BACK, time(1), time(3))],
)


@dataclass(frozen=True)
class Refusal:
    start: datetime
    rule: str
    therapist: TherapistCalendar = TherapistCalendar(ANNA, EVERY_DAY_9_TO_5)  # noqa: RUF009
    service: ServiceRule = MASSAGE
    rooms: Sequence[RoomCalendar] = ()
    policy: BookingPolicy = OPEN
    now: datetime = LONG_AGO


REFUSALS = {
    "gap-wall-time": Refusal(datetime(2027, 3, 14, 2, 30, tzinfo=NY), "nonexistent_local_time", NIGHT_SHIFT),
    "gap-wall-time-fold-1": Refusal(
        datetime(2027, 3, 14, 2, 30, tzinfo=NY, fold=1), "nonexistent_local_time", NIGHT_SHIFT
    ),
    "too-soon": Refusal(ny(MONDAY, 10), "min_notice", policy=BookingPolicy(), now=ny(MONDAY, 8, 30)),
    "too-far": Refusal(
        ny(MONDAY, 10), "beyond_horizon", policy=BookingPolicy(), now=ny(MONDAY, 10) - timedelta(days=91)
    ),
    "before-opening": Refusal(ny(MONDAY, 8), "outside_hours"),
    "runs-past-closing": Refusal(ny(MONDAY, 16, 15), "outside_hours"),
    "day-off": Refusal(ny(SATURDAY, 10), "outside_hours", TherapistCalendar(ANNA, WEEKDAYS_9_TO_5)),
    "off-grid": Refusal(ny(MONDAY, 9, 10), "off_grid"),
    "off-the-thirty-minute-grid": Refusal(ny(MONDAY, 9, 15), "off_grid", policy=replace(OPEN, granularity=minutes(30))),
    "second-half-past-one": Refusal(ny(FALL_BACK, 1, 30, fold=1), "off_grid", NIGHT_SHIFT),
    "second-half-past-one-in-utc": Refusal(utc(2026, 11, 1, 6, 30), "off_grid", NIGHT_SHIFT),
    "lunch": Refusal(ny(MONDAY, 11, 30), "time_off", anna(time_off=[LUNCH])),
    "taken": Refusal(ny(MONDAY, 11), "slot_taken", anna(busy=[TEN_O_CLOCK_WITH_CLEANUP])),
    "cleanup-runs-into-booking": Refusal(
        ny(MONDAY, 9), "slot_taken", anna(busy=[TEN_O_CLOCK_WITH_CLEANUP]), service=WITH_CLEANUP
    ),
    "room-busy": Refusal(
        ny(MONDAY, 10),
        "no_room",
        service=ServiceRule(duration=minutes(60), room_ids=frozenset({ROOM_A})),
        rooms=[ROOM_A_BUSY_AT_TEN, ROOM_B_FREE],
    ),
    "no-rooms-given": Refusal(ny(MONDAY, 10), "no_room", service=MASSAGE_IN_ANY_ROOM),
    # Several rules broken: the first in the documented order is named.
    "too-soon-and-outside-hours": Refusal(ny(MONDAY, 8), "min_notice", policy=BookingPolicy(), now=ny(MONDAY, 7)),
    "off-grid-and-taken": Refusal(ny(MONDAY, 10, 5), "off_grid", anna(busy=[TEN_O_CLOCK_WITH_CLEANUP])),
    "off-and-taken": Refusal(ny(MONDAY, 12), "time_off", anna(time_off=[LUNCH], busy=[LUNCH])),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_check_slot_names_the_rule_a_refused_start_breaks(case: Refusal) -> None:
    with pytest.raises(SlotRejected) as refused:
        check(
            case.start,
            therapist=case.therapist,
            service=case.service,
            rooms=case.rooms,
            policy=case.policy,
            now=case.now,
        )

    assert refused.value.rule == case.rule
    assert refused.value.detail
    assert str(refused.value).startswith(case.rule)


def test_check_slot_returns_the_room_a_good_start_would_take() -> None:
    room = check(ny(MONDAY, 10), service=MASSAGE_IN_ANY_ROOM, rooms=[ROOM_B_FREE, ROOM_A_BUSY_AT_TEN])

    assert room == ROOM_B


def test_check_slot_returns_no_room_for_a_service_that_needs_none() -> None:
    assert check(ny(MONDAY, 10), service=MASSAGE, rooms=[ROOM_B_FREE]) is None


def test_check_slot_accepts_the_same_instant_written_in_utc() -> None:
    assert check(utc(2026, 6, 1, 14), service=MASSAGE_IN_ANY_ROOM, rooms=[ROOM_B_FREE]) == ROOM_B


def test_check_slot_accepts_the_first_half_past_one_on_fall_back_day() -> None:
    assert check(ny(FALL_BACK, 1, 30), therapist=NIGHT_SHIFT) is None


def test_check_slot_accepts_the_exact_notice_and_horizon_boundaries() -> None:
    policy = BookingPolicy(min_notice=timedelta(hours=2), horizon=timedelta(days=1))

    assert check(ny(MONDAY, 10), policy=policy, now=ny(MONDAY, 8)) is None
    assert check(ny(MONDAY, 10), policy=policy, now=ny(MONDAY, 10) - timedelta(days=1)) is None


# --------------------------------------------------------------------------------------------------
# Inputs the engine refuses outright (programming errors, not client errors)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: ServiceRule(duration=timedelta(0)), id="zero-duration"),
        pytest.param(lambda: ServiceRule(duration=minutes(60), buffer_after=minutes(-5)), id="negative-buffer"),
        pytest.param(lambda: BookingPolicy(granularity=timedelta(0)), id="zero-granularity"),
        pytest.param(lambda: WeeklyHours(7, time(9), time(17)), id="weekday-7"),
        pytest.param(lambda: WeeklyHours(0, time(17), time(9)), id="overnight-weekly"),
        pytest.param(lambda: ExtraHours(MONDAY, time(9), time(9)), id="empty-extra"),
        pytest.param(lambda: WeeklyHours(0, time(9, tzinfo=UTC), time(17, tzinfo=UTC)), id="aware-wall-time"),
        pytest.param(lambda: Interval(ny(MONDAY, 11), ny(MONDAY, 10)), id="backwards-interval"),
        pytest.param(lambda: Interval(datetime(2026, 6, 1, 10), ny(MONDAY, 11)), id="naive-interval"),
        pytest.param(lambda: block_for(datetime(2026, 6, 1, 10), MASSAGE), id="naive-block"),
        pytest.param(lambda: check(datetime(2026, 6, 1, 10)), id="naive-check"),
        pytest.param(lambda: slots(on=MONDAY, now=datetime(2026, 1, 1)), id="naive-now"),
    ],
)
def test_malformed_inputs_raise_value_error(build: Any) -> None:
    with pytest.raises(ValueError, match=r"."):
        build()


# --------------------------------------------------------------------------------------------------
# Interval
# --------------------------------------------------------------------------------------------------


def test_intervals_are_half_open() -> None:
    morning = Interval(ny(MONDAY, 9), ny(MONDAY, 10))

    assert not morning.overlaps(Interval(ny(MONDAY, 10), ny(MONDAY, 11)))
    assert not Interval(ny(MONDAY, 10), ny(MONDAY, 11)).overlaps(morning)
    assert morning.overlaps(Interval(ny(MONDAY, 9, 59), ny(MONDAY, 11)))
    assert morning.overlaps(Interval(ny(MONDAY, 9, 15), ny(MONDAY, 9, 30)))


def test_intervals_in_different_zones_compare_as_instants() -> None:
    morning = Interval(ny(MONDAY, 9), ny(MONDAY, 10))

    assert morning.overlaps(Interval(utc(2026, 6, 1, 13, 30), utc(2026, 6, 1, 14)))
    assert not morning.overlaps(Interval(utc(2026, 6, 1, 9), utc(2026, 6, 1, 10)))


def test_intervals_across_the_repeated_hour_compare_as_instants() -> None:
    first_pass = Interval(ny(FALL_BACK, 1, 0), ny(FALL_BACK, 1, 30))
    second_pass = Interval(ny(FALL_BACK, 1, 10, fold=1), ny(FALL_BACK, 1, 20, fold=1))

    assert not first_pass.overlaps(second_pass)


def test_an_empty_interval_overlaps_nothing() -> None:
    instant = Interval(ny(MONDAY, 9, 30), ny(MONDAY, 9, 30))

    assert not instant.overlaps(Interval(ny(MONDAY, 9), ny(MONDAY, 10)))
    assert not Interval(ny(MONDAY, 9), ny(MONDAY, 10)).overlaps(instant)


# --------------------------------------------------------------------------------------------------
# find_slots and check_slot agree, and both agree with a slow, obviously-correct oracle
# --------------------------------------------------------------------------------------------------

ZONES_AND_DAYS = [
    (NY, [date(2026, 3, 6), date(2026, 10, 30), date(2027, 3, 12), date(2026, 6, 3)]),
    (ZoneInfo("Europe/London"), [date(2026, 3, 27), date(2026, 10, 23)]),
    (ZoneInfo("Australia/Lord_Howe"), [date(2026, 4, 3), date(2026, 10, 2)]),  # 30-minute DST shift
    (ZoneInfo("America/Santiago"), [date(2026, 4, 3), date(2026, 9, 4)]),  # changes at midnight
    (ZoneInfo("Asia/Kolkata"), [date(2026, 6, 3)]),
]
STEP = timedelta(minutes=5)  # every random time and zone change below falls on this grid


@dataclass(frozen=True)
class Case:
    zone: ZoneInfo
    date_from: date
    date_to: date
    service: ServiceRule
    therapists: tuple[TherapistCalendar, ...]
    rooms: tuple[RoomCalendar, ...]
    policy: BookingPolicy
    now: datetime

    def find(self) -> list[Slot]:
        return find_slots(
            zone=self.zone,
            date_from=self.date_from,
            date_to=self.date_to,
            service=self.service,
            therapists=self.therapists,
            rooms=self.rooms,
            policy=self.policy,
            now=self.now,
        )

    def check(self, start: datetime, therapist: TherapistCalendar) -> UUID | None:
        return check_slot(
            zone=self.zone,
            start=start,
            service=self.service,
            therapist=therapist,
            rooms=self.rooms,
            policy=self.policy,
            now=self.now,
        )


def _random_wall(rng: random.Random, *, early: bool) -> time:
    hour = rng.randrange(0, 4) if early else rng.randrange(0, 21)
    return time(hour, 5 * rng.randrange(12))


def _random_hours(rng: random.Random, days: list[date]) -> tuple[list[WeeklyHours], list[ExtraHours]]:
    weekly, extra = [], []
    for weekday in range(7):
        for _ in range(rng.choice([0, 1, 1, 2])):
            start = _random_wall(rng, early=rng.random() < 0.4)
            end = min(
                datetime.combine(MONDAY, start) + timedelta(minutes=5 * rng.randrange(6, 90)),
                datetime.combine(MONDAY, time(23, 55)),
            )
            weekly.append(WeeklyHours(weekday, start, end.time()))
    for _ in range(rng.randrange(3)):
        start = _random_wall(rng, early=rng.random() < 0.5)
        end = min(
            datetime.combine(MONDAY, start) + timedelta(minutes=5 * rng.randrange(6, 60)),
            datetime.combine(MONDAY, time(23, 55)),
        )
        extra.append(ExtraHours(rng.choice(days), start, end.time()))
    return weekly, extra


def _random_intervals(rng: random.Random, zone: ZoneInfo, days: list[date], count: int) -> list[Interval]:
    found = []
    for _ in range(count):
        day = rng.choice(days)
        start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC) + STEP * rng.randrange(-12, 300)
        end = start + STEP * rng.randrange(0, 30)
        target = rng.choice([UTC, zone])  # some calendars arrive in UTC, some in the practice zone
        found.append(Interval(start.astimezone(target), end.astimezone(target)))
    return found


def _random_case(rng: random.Random) -> Case:
    zone, anchors = rng.choice(ZONES_AND_DAYS)
    date_from = rng.choice(anchors)
    days = [date_from + timedelta(days=n) for n in range(rng.randrange(1, 6))]
    therapists = []
    for therapist_id in (ANNA, BEN, UUID(int=3))[: rng.randrange(1, 4)]:
        weekly, extra = _random_hours(rng, days)
        therapists.append(
            TherapistCalendar(
                therapist_id,
                weekly,
                extra,
                time_off=_random_intervals(rng, zone, days, rng.randrange(3)),
                busy=_random_intervals(rng, zone, days, rng.randrange(12)),
            )
        )
    room_ids = [UUID(int=100 + n) for n in range(rng.randrange(4))]
    rooms = tuple(RoomCalendar(room_id, _random_intervals(rng, zone, days, rng.randrange(8))) for room_id in room_ids)
    suitable = rng.choice(
        [None, None, frozenset(), frozenset([*rng.sample(room_ids, k=min(len(room_ids), 1)), UNKNOWN_ROOM])]
    )
    service = ServiceRule(
        duration=minutes(rng.choice([15, 30, 45, 60, 90])),
        buffer_before=minutes(rng.choice([0, 0, 5, 15])),
        buffer_after=minutes(rng.choice([0, 10, 15])),
        room_ids=suitable,
    )
    policy = BookingPolicy(
        min_notice=rng.choice([timedelta(0), timedelta(hours=2), timedelta(hours=30)]),
        horizon=rng.choice([timedelta(days=1), timedelta(days=3), timedelta(days=90)]),
        granularity=minutes(rng.choice([5, 10, 15, 20, 30, 45])),
    )
    now = datetime.combine(date_from, time(0), tzinfo=zone) + STEP * rng.randrange(-600, 300)
    return Case(
        zone, date_from, days[-1], service, tuple(therapists), rooms, policy, now.astimezone(rng.choice([UTC, zone]))
    )


def _oracle_windows(therapist: TherapistCalendar, day: date) -> list[tuple[datetime, datetime]]:
    spans = sorted(
        [(hours.start, hours.end) for hours in therapist.weekly if hours.weekday == day.weekday()]
        + [(more.start, more.end) for more in therapist.extra if more.day == day]
    )
    windows: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        wall_start, wall_end = datetime.combine(day, start), datetime.combine(day, end)
        if windows and wall_start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], wall_end))
        else:
            windows.append((wall_start, wall_end))
    return windows


def _oracle_room(case: Case, therapist: TherapistCalendar, at: datetime) -> tuple[bool, UUID | None]:
    """Whether the instant `at` (UTC) passes notice, horizon, time off, busy and rooms; and its room."""
    service, policy, now = case.service, case.policy, case.now.astimezone(UTC)
    work = Interval(at, at + service.duration)
    block = Interval(at - service.buffer_before, at + service.duration + service.buffer_after)
    if not now + policy.min_notice <= at <= now + policy.horizon:
        return False, None
    if any(work.overlaps(off) for off in therapist.time_off) or any(block.overlaps(b) for b in therapist.busy):
        return False, None
    if service.room_ids is not None and not service.room_ids:
        return True, None
    suitable = [room for room in case.rooms if service.room_ids is None or room.room_id in service.room_ids]
    free = sorted(room.room_id for room in suitable if not any(block.overlaps(b) for b in room.busy))
    return bool(free), (free[0] if free else None)


def _oracle(case: Case) -> list[tuple[datetime, datetime, UUID, UUID | None]]:
    """Every offerable slot, found the slow way: read the local clock at every 5-minute instant.

    A wall time W is offered at the instant the clock first reads W (fold=0). A window boundary W is
    the first instant at which the clock reads W or later (so a boundary in a gap is the jump itself).
    Notice, horizon and durations are real (UTC) time.
    """
    found = []
    day = case.date_from
    while day <= case.date_to:
        midnight = datetime.combine(day, time(0), tzinfo=case.zone).astimezone(UTC)
        clock = [
            (at, at.astimezone(case.zone)) for at in (midnight - timedelta(hours=4) + STEP * n for n in range(384))
        ]

        def first_reading(wall: datetime, clock: list[tuple[datetime, datetime]] = clock) -> datetime:
            return next(at for at, local in clock if local.replace(tzinfo=None) >= wall)

        for therapist in case.therapists:
            for wall_start, wall_end in _oracle_windows(therapist, day):
                opens, closes = first_reading(wall_start), first_reading(wall_end)
                for at, local in clock:
                    wall = local.replace(tzinfo=None)
                    if local.fold or local.date() != day or not wall_start <= wall < wall_end:
                        continue
                    if (
                        wall - wall_start
                    ) % case.policy.granularity or not opens <= at <= closes - case.service.duration:
                        continue
                    offered, room = _oracle_room(case, therapist, at)
                    if offered:
                        found.append((at, at + case.service.duration, therapist.therapist_id, room))
        day += timedelta(days=1)
    return sorted(found, key=lambda item: (item[0], item[2]))


SEEDS = range(80)


@pytest.mark.parametrize("seed", SEEDS)
def test_find_slots_matches_the_slow_clock_reading_oracle(seed: int) -> None:
    case = _random_case(random.Random(seed))  # noqa: S311 - reproducible test data, not security

    found = case.find()

    assert [(s.start.astimezone(UTC), s.end.astimezone(UTC), s.therapist_id, s.room_id) for s in found] == _oracle(case)
    assert all(slot.start.tzinfo is case.zone and slot.end.tzinfo is case.zone for slot in found)
    assert all(slot.start.fold == 0 for slot in found)


def test_the_random_cases_are_not_vacuous() -> None:
    cases = [_random_case(random.Random(seed)) for seed in SEEDS]  # noqa: S311

    offered = [len(case.find()) for case in cases]

    assert sum(1 for count in offered if count) >= len(cases) // 2
    assert sum(1 for count in offered if not count) >= 1


@pytest.mark.parametrize("seed", SEEDS)
def test_every_offered_slot_passes_check_slot_and_other_starts_are_refused(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311
    case = _random_case(rng)
    by_id = {therapist.therapist_id: therapist for therapist in case.therapists}
    found = case.find()

    for slot in found:
        assert case.check(slot.start, by_id[slot.therapist_id]) == slot.room_id
    offered = {(slot.start.astimezone(UTC), slot.therapist_id): slot.room_id for slot in found}

    first = datetime.combine(case.date_from, time(0), tzinfo=case.zone).astimezone(UTC)
    last = datetime.combine(case.date_to + timedelta(days=1), time(0), tzinfo=case.zone).astimezone(UTC)
    probes = [first + STEP * rng.randrange((last - first) // STEP) for _ in range(150)]
    for at in probes:
        for therapist in case.therapists:
            start = at.astimezone(rng.choice([case.zone, UTC]))
            key = (at, therapist.therapist_id)
            if key in offered:
                assert case.check(start, therapist) == offered[key]
            else:
                with pytest.raises(SlotRejected):
                    case.check(start, therapist)


def test_check_slot_refuses_for_every_reason_across_random_probes() -> None:
    rules: set[str] = set()
    for seed in SEEDS:
        rng = random.Random(seed)  # noqa: S311
        case = _random_case(rng)
        for _ in range(60):
            day = case.date_from + timedelta(days=rng.randrange((case.date_to - case.date_from).days + 1))
            # Wall times written straight into the zone, so some fall into a DST gap.
            start = datetime.combine(day, time(rng.randrange(24), 5 * rng.randrange(12)), tzinfo=case.zone)
            try:
                case.check(start.replace(fold=rng.randrange(2)), rng.choice(case.therapists))
            except SlotRejected as refused:
                rules.add(refused.rule)

    assert rules == {
        "nonexistent_local_time",
        "min_notice",
        "beyond_horizon",
        "outside_hours",
        "off_grid",
        "time_off",
        "slot_taken",
        "no_room",
    }


# --------------------------------------------------------------------------------------------------
# The engine stays pure
# --------------------------------------------------------------------------------------------------


def test_engine_imports_only_the_standard_library() -> None:
    source = Path(availability.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)

    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports into the application"
            imported.add((node.module or "").split(".")[0])

    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
    assert (ast.get_docstring(tree) or "").startswith("Availability engine: owns")
