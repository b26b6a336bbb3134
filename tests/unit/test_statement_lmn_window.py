"""A statement marks each visit no letter of medical necessity covers, naming the nearest letter's window."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.documents.samples import CLIENT, PRACTICE, THERAPIST
from billing.documents.snapshot import DocumentKind, DocumentLine, DocumentSnapshot, LineKind, LmnReference

SPRING = LmnReference(signed_on=dt.date(2026, 3, 1), issuer_name="Dr. A", expires_on=dt.date(2026, 5, 31))
AUTUMN = LmnReference(signed_on=dt.date(2026, 9, 1), issuer_name="Dr. B")  # no expiry: one year


def _statement(*letters: LmnReference) -> DocumentSnapshot:
    return DocumentSnapshot(
        kind=DocumentKind.STATEMENT,
        currency="USD",
        practice=PRACTICE,
        client=CLIENT,
        lmn=letters,
        year=2026,
        therapists=(THERAPIST,),
    )


def _visit(day: dt.date, kind: LineKind = LineKind.SERVICE) -> DocumentLine:
    return DocumentLine(service_date=day, description="Therapeutic massage, 60 min", amount=120_00, kind=kind)


@pytest.mark.parametrize(
    ("day", "missed"),
    [
        (dt.date(2026, 2, 28), SPRING),  # the day before signing
        (dt.date(2026, 3, 1), None),  # the signing day is covered
        (dt.date(2026, 5, 31), None),  # so is the expiry day
        (dt.date(2026, 6, 1), SPRING),  # the day after: the spring letter is nearest
        (dt.date(2026, 8, 20), AUTUMN),  # closer to the autumn letter's signing
        (dt.date(2026, 12, 31), None),  # the autumn letter runs a year
    ],
)
def test_a_visit_outside_every_letter_names_the_nearest_one(day: dt.date, missed: LmnReference | None) -> None:
    assert _statement(SPRING, AUTUMN).lmn_window_miss(_visit(day)) == missed


def test_without_a_letter_or_on_a_refund_line_nothing_is_marked() -> None:
    assert _statement().lmn_window_miss(_visit(dt.date(2026, 2, 1))) is None
    assert _statement(SPRING).lmn_window_miss(_visit(dt.date(2026, 2, 1), LineKind.REFUND)) is None


def test_a_letter_without_expiry_is_valid_to_one_year_after_signing() -> None:
    assert AUTUMN.valid_to == dt.date(2027, 9, 1)
    assert SPRING.valid_to == dt.date(2026, 5, 31)
    assert (SPRING.distance(dt.date(2026, 2, 27)), SPRING.distance(dt.date(2026, 4, 1))) == (2, 0)


def test_the_statements_therapists_survive_the_json_round_trip() -> None:
    statement = _statement(SPRING)
    assert DocumentSnapshot.from_json(statement.to_json()).therapists == (THERAPIST,)
