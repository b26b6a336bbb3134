"""Pure rules of issued documents: CPT units, eligibility, tenders, LMN references, JSON round trip."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.documents.snapshot import (
    ClientParty,
    DocumentKind,
    DocumentLine,
    DocumentSnapshot,
    LineKind,
    LmnReference,
    PracticeParty,
    Tender,
    TherapistParty,
    format_number,
    is_prepayment,
    medical_lines,
)
from billing.documents.units import cpt_units


def _expected_units(minutes: int) -> int:
    # The CMS table written out: 8-22 = 1, 23-37 = 2, 38-52 = 3, 53-67 = 4, 68-82 = 5, ...
    if minutes < 8:
        return 0
    return (minutes - 8) // 15 + 1


@pytest.mark.parametrize("minutes", range(241))
def test_eight_minute_rule_matches_the_cms_table_for_every_minute_up_to_four_hours(minutes: int) -> None:
    assert cpt_units(minutes) == _expected_units(minutes)


@pytest.mark.parametrize(
    ("minutes", "units"),
    [(0, 0), (7, 0), (8, 1), (22, 1), (23, 2), (37, 2), (38, 3), (52, 3), (53, 4), (60, 4), (67, 4), (68, 5), (90, 6)],
)
def test_unit_boundaries_of_the_eight_minute_rule(minutes: int, units: int) -> None:
    assert cpt_units(minutes) == units


def test_negative_minutes_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        cpt_units(-1)


def test_numbers_are_prefixed_per_kind_and_zero_padded() -> None:
    assert format_number(DocumentKind.RECEIPT, 1) == "R-000001"
    assert format_number(DocumentKind.CREDIT_NOTE, 42) == "CN-000042"
    assert format_number(DocumentKind.STATEMENT, 1234567) == "ST-1234567"
    with pytest.raises(ValueError, match="start at 1"):
        format_number(DocumentKind.RECEIPT, 0)


def _line(kind: LineKind, amount: int, *, eligible: bool = True) -> DocumentLine:
    return DocumentLine(
        service_date=dt.date(2026, 3, 2), description=kind.value, amount=amount, kind=kind, fsa_eligible=eligible
    )


def _snapshot(*lines: DocumentLine, tenders: tuple[Tender, ...] = ()) -> DocumentSnapshot:
    return DocumentSnapshot(
        kind=DocumentKind.RECEIPT,
        currency="USD",
        practice=PracticeParty(
            name="Harbor Massage", address_lines=("1 Main St", "Boston, MA 02110"), ein="12-3456789"
        ),
        client=ClientParty(name="Ada Lovelace", date_of_birth=dt.date(1980, 5, 17)),
        therapist=TherapistParty(name="Sam Rivera", credential="LMT", license_number="12345", license_state="MA"),
        lines=lines,
        tenders=tenders,
    )


def test_tips_retail_gift_cards_and_fees_stay_off_the_eligible_subtotal() -> None:
    snapshot = _snapshot(
        _line(LineKind.SERVICE, 120_00),
        _line(LineKind.ADDON, 15_00),
        _line(LineKind.DISCOUNT, -10_00),
        _line(LineKind.TIP, 20_00),
        _line(LineKind.RETAIL, 18_00, eligible=True),  # a retail line flagged eligible still is not
        _line(LineKind.GIFT_CARD, 50_00),
        _line(LineKind.FEE, 3_00),
    )
    assert snapshot.eligible_subtotal == 125_00
    assert snapshot.ineligible_subtotal == 91_00
    assert snapshot.total == 216_00


def test_a_service_the_practice_marks_not_eligible_is_kept_apart() -> None:
    snapshot = _snapshot(_line(LineKind.SERVICE, 90_00, eligible=False), _line(LineKind.SERVICE, 120_00))
    assert snapshot.eligible_subtotal == 120_00
    assert snapshot.ineligible_subtotal == 90_00


def test_no_show_and_late_cancel_fees_never_reach_a_medical_document() -> None:
    lines = (
        _line(LineKind.SERVICE, 120_00),
        _line(LineKind.NO_SHOW_FEE, 60_00),
        _line(LineKind.LATE_CANCEL_FEE, 30_00),
    )
    assert [line.kind for line in medical_lines(lines)] == [LineKind.SERVICE]


def test_package_and_deposit_purchases_are_prepayments_and_a_visit_is_not() -> None:
    assert is_prepayment([_line(LineKind.PACKAGE, 500_00)])
    assert is_prepayment([_line(LineKind.DEPOSIT, 30_00), _line(LineKind.RETAIL, 10_00)])
    assert not is_prepayment([_line(LineKind.SERVICE, 120_00), _line(LineKind.DEPOSIT, -30_00)])
    assert not is_prepayment([_line(LineKind.RETAIL, 10_00)])


def test_paid_and_balance_come_from_the_tenders() -> None:
    snapshot = _snapshot(
        _line(LineKind.SERVICE, 120_00),
        tenders=(Tender(method="card", amount=100_00, card_brand="visa", card_last4="4242"),),
    )
    assert snapshot.paid == 100_00
    assert snapshot.balance == 20_00


@pytest.mark.parametrize("last4", ["424", "42424", "abcd", "4242 "])
def test_a_tender_keeps_four_card_digits_at_most(last4: str) -> None:
    with pytest.raises(ValueError, match="four digits"):
        Tender(method="card", amount=1, card_brand="visa", card_last4=last4)


def test_tender_labels_show_brand_and_last_four_only() -> None:
    assert Tender(method="card", amount=1, card_brand="visa", card_last4="4242").label == "Visa ending 4242"
    assert Tender(method="cash", amount=1).label == "Cash"
    assert Tender(method="gift_card", amount=1).label == "Gift card"


def test_cpt_units_follow_the_minutes_unless_given() -> None:
    line = DocumentLine(service_date=dt.date(2026, 1, 5), description="Massage", amount=1, cpt_code="97124", minutes=60)
    assert line.cpt_units == 4
    assert DocumentLine(service_date=dt.date(2026, 1, 5), description="x", amount=1, minutes=60).cpt_units is None
    explicit = DocumentLine(service_date=dt.date(2026, 1, 5), description="x", amount=1, cpt_code="97140", units=2)
    assert explicit.cpt_units == 2


def test_lmn_reference_names_date_and_signer_and_covers_twelve_months() -> None:
    lmn = LmnReference(signed_on=dt.date(2026, 1, 15), issuer_name="Dr. Grace Hopper", issuer_credential="DC")
    assert lmn.text == "LMN on file, signed January 15, 2026 by Dr. Grace Hopper, DC"
    assert not lmn.covers(dt.date(2026, 1, 14))
    assert lmn.covers(dt.date(2026, 1, 15))
    assert lmn.covers(dt.date(2027, 1, 15))
    assert not lmn.covers(dt.date(2027, 1, 16))
    leap = LmnReference(signed_on=dt.date(2028, 2, 29), issuer_name="X", expires_on=None)
    assert leap.covers(dt.date(2029, 2, 28))
    assert not LmnReference(signed_on=dt.date(2026, 1, 1), issuer_name="X", expires_on=dt.date(2026, 6, 30)).covers(
        dt.date(2026, 7, 1)
    )


def test_diagnosis_pointers_letter_the_codes_of_each_line() -> None:
    first = DocumentLine(
        service_date=dt.date(2026, 1, 5), description="a", amount=1, diagnosis_codes=("M54.50", "m62.830")
    )
    second = DocumentLine(service_date=dt.date(2026, 1, 12), description="b", amount=1, diagnosis_codes=("M62.830",))
    snapshot = _snapshot(first, second)
    assert snapshot.diagnosis_codes == ("M54.50", "M62.830")
    assert snapshot.diagnosis_pointer(first) == "AB"
    assert snapshot.diagnosis_pointer(second) == "B"


def test_snapshot_survives_a_json_round_trip_with_the_same_digest() -> None:
    snapshot = _snapshot(
        DocumentLine(
            service_date=dt.date(2026, 3, 2),
            description="Therapeutic massage, 60 min",
            amount=120_00,
            minutes=60,
            cpt_code="97124",
            diagnosis_codes=("M54.50",),
        ),
        _line(LineKind.TIP, 20_00),
        tenders=(Tender(method="card", amount=140_00, card_brand="visa", card_last4="4242"),),
    )
    snapshot = DocumentSnapshot(
        **{
            **snapshot.__dict__,
            "lmn": (LmnReference(dt.date(2026, 1, 15), "Dr. Who"),),
            "package_sessions_remaining": 3,
        }
    )
    again = DocumentSnapshot.from_json(snapshot.to_json())
    assert again == snapshot
    assert again.digest == snapshot.digest
    assert again.lines[0].kind is LineKind.SERVICE
    assert again.client.date_of_birth == dt.date(1980, 5, 17)
