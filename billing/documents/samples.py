"""Example documents with every field filled: for previews, the benchmark and the layout tests."""

from __future__ import annotations

import datetime as dt

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
)

PRACTICE = PracticeParty(
    name="Harbor Therapeutic Massage",
    address_lines=("120 Atlantic Avenue, Suite 4", "Boston, MA 02110"),
    phone="(617) 555-0142",
    ein="12-3456789",
    npi="1234567893",
)
THERAPIST = TherapistParty(
    name="Sam Rivera", credential="LMT", license_number="MT-20417", license_state="MA", npi="1987654321"
)
CLIENT = ClientParty(
    name="Ada Lovelace", address_lines=("9 Beacon Street", "Boston, MA 02108"), date_of_birth=dt.date(1980, 5, 17)
)
LMN = LmnReference(
    signed_on=dt.date(2026, 1, 15),
    issuer_name="Dr. Grace Hopper",
    issuer_credential="DC",
    issuer_npi="1122334455",
    expires_on=dt.date(2027, 1, 14),
)
VISIT = dt.date(2026, 3, 2)


def sample_receipt() -> DocumentSnapshot:
    return DocumentSnapshot(
        kind=DocumentKind.RECEIPT,
        currency="USD",
        practice=PRACTICE,
        client=CLIENT,
        therapist=THERAPIST,
        lines=(
            DocumentLine(
                service_date=VISIT,
                description="Therapeutic massage, 60 min",
                amount=100_00,
                minutes=60,
                cpt_code="97124",
                diagnosis_codes=("M54.50", "M62.830"),
                discount=20_00,
                discount_note="list $120.00, less $20.00 first-visit discount",
            ),
            DocumentLine(
                service_date=VISIT,
                description="Hot stone add-on, 15 min",
                amount=15_00,
                kind=LineKind.ADDON,
                minutes=15,
                cpt_code="97124",
                diagnosis_codes=("M62.830",),
            ),
            DocumentLine(service_date=VISIT, description="Gratuity", amount=25_00, kind=LineKind.TIP),
            DocumentLine(service_date=VISIT, description="Arnica massage lotion", amount=18_00, kind=LineKind.RETAIL),
        ),
        tenders=(Tender(method="card", amount=158_00, card_brand="visa", card_last4="4242", paid_on=VISIT),),
        lmn=(LMN,),
        package_sessions_remaining=None,
    )


def sample_statement() -> DocumentSnapshot:
    # The first visit came before the LMN was signed: the statement marks it.
    visits = [(dt.date(2026, 1, 8), "R-000002"), (dt.date(2026, 2, 3), "R-000007"), (VISIT, "R-000011")]
    lines = (
        *tuple(
            DocumentLine(
                service_date=day,
                description="Therapeutic massage, 60 min",
                amount=12000,
                minutes=60,
                cpt_code="97124",
                diagnosis_codes=("M54.50", "M62.830"),
                therapist_name=THERAPIST.display_name,
                paid=12000,
                reference=number,
            )
            for day, number in visits
        ),
        DocumentLine(
            service_date=dt.date(2026, 2, 3),
            description="Refund against receipt R-000007: session cut short",
            amount=-2000,
            kind=LineKind.REFUND,
            therapist_name=THERAPIST.display_name,
            paid=-2000,
            reference="CN-000001",
        ),
    )
    return DocumentSnapshot(
        kind=DocumentKind.STATEMENT,
        currency="USD",
        practice=PRACTICE,
        client=CLIENT,
        lines=tuple(sorted(lines, key=lambda line: line.service_date)),
        lmn=(LMN,),
        year=2026,
        therapists=(THERAPIST,),
    )


def sample_superbill() -> DocumentSnapshot:
    receipt = sample_receipt()
    return DocumentSnapshot(
        kind=DocumentKind.SUPERBILL,
        currency="USD",
        practice=PRACTICE,
        client=CLIENT,
        therapist=THERAPIST,
        lines=receipt.eligible_lines,
        tenders=(Tender(method="paid", amount=receipt.eligible_subtotal),),
        lmn=(LMN,),
        references_number="R-000011",
    )


def sample_payment_ack() -> DocumentSnapshot:
    return DocumentSnapshot(
        kind=DocumentKind.PAYMENT_ACK,
        currency="USD",
        practice=PRACTICE,
        client=CLIENT,
        lines=(
            DocumentLine(
                service_date=VISIT,
                description="Package: 5 x Therapeutic massage, 60 min",
                amount=550_00,
                kind=LineKind.PACKAGE,
            ),
        ),
        tenders=(
            Tender(
                method="card", amount=550_00, card_brand="mastercard", card_last4="4444", paid_on=dt.date(2026, 2, 20)
            ),
        ),
    )


def sample_credit_note() -> DocumentSnapshot:
    return DocumentSnapshot(
        kind=DocumentKind.CREDIT_NOTE,
        currency="USD",
        practice=PRACTICE,
        client=CLIENT,
        therapist=THERAPIST,
        lines=(
            DocumentLine(
                service_date=VISIT,
                description="Refund against receipt R-000011: session cut short",
                amount=-40_00,
                kind=LineKind.REFUND,
            ),
        ),
        tenders=(
            Tender(method="card", amount=-40_00, card_brand="visa", card_last4="4242", paid_on=dt.date(2026, 3, 4)),
        ),
        references_number="R-000011",
        reason="Session cut short",
    )


def sample_fee_notice() -> DocumentSnapshot:
    return DocumentSnapshot(
        kind=DocumentKind.FEE_NOTICE,
        currency="USD",
        practice=PRACTICE,
        client=CLIENT,
        therapist=THERAPIST,
        lines=(
            DocumentLine(
                service_date=VISIT,
                description="No-show fee",
                amount=50_00,
                kind=LineKind.NO_SHOW_FEE,
                fsa_eligible=False,
            ),
        ),
        tenders=(Tender(method="card_on_file", amount=50_00, card_brand="visa", card_last4="4242"),),
        reason="A visit missed without notice is charged a no-show fee of $50.00.",
        extra={
            "visit_service": "Therapeutic massage, 60 min",
            "visit_time": "10:00 AM EST",
            "paid_on": VISIT.isoformat(),
        },
    )
