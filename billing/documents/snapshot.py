"""What an issued document says, frozen at issue: parties, lines, tenders, totals. Pure (no ORM, no web).

A snapshot is stored as JSON next to the rendered PDF; it never reads live rows again, so a receipt
issued today still says what it said when the therapist's licence or the practice's address changes.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from billing.documents.units import cpt_units


class DocumentKind(enum.StrEnum):
    RECEIPT = "receipt"
    CREDIT_NOTE = "credit_note"
    PAYMENT_ACK = "payment_ack"
    STATEMENT = "statement"
    SUPERBILL = "superbill"
    CLAIM_PACKET = "claim_packet"
    FEE_NOTICE = "fee_notice"  # a no-show or late-cancellation fee: not a medical receipt


# Each kind counts on its own; the prefix makes a number readable on the phone ("receipt R-000042").
NUMBER_PREFIX = {
    DocumentKind.RECEIPT: "R",
    DocumentKind.CREDIT_NOTE: "CN",
    DocumentKind.PAYMENT_ACK: "PA",
    DocumentKind.STATEMENT: "ST",
    DocumentKind.SUPERBILL: "SB",
    DocumentKind.CLAIM_PACKET: "CP",
    DocumentKind.FEE_NOTICE: "FN",
}

TITLES = {
    DocumentKind.RECEIPT: "Receipt",
    DocumentKind.CREDIT_NOTE: "Credit note",
    DocumentKind.PAYMENT_ACK: "Payment acknowledgement",
    DocumentKind.STATEMENT: "FSA/HSA year-end statement",
    DocumentKind.SUPERBILL: "Superbill",
    DocumentKind.CLAIM_PACKET: "FSA/HSA claim packet",
    DocumentKind.FEE_NOTICE: "Fee notice",
}


def format_number(kind: DocumentKind, seq: int) -> str:
    """(receipt, 42) -> 'R-000042'."""
    if seq < 1:
        msg = "document numbers start at 1"
        raise ValueError(msg)
    return f"{NUMBER_PREFIX[kind]}-{seq:06d}"


class LineKind(enum.StrEnum):
    SERVICE = "service"
    ADDON = "addon"
    DISCOUNT = "discount"
    RETAIL = "retail"
    TIP = "tip"
    GIFT_CARD = "gift_card"  # buying a gift card; redeeming one is a tender
    FEE = "fee"
    NO_SHOW_FEE = "no_show_fee"
    LATE_CANCEL_FEE = "late_cancel_fee"
    PACKAGE = "package"  # buying a package: acknowledged, not a medical receipt
    DEPOSIT = "deposit"
    REFUND = "refund"  # on a credit note or a statement: money given back


# Care given on the date of service. Everything else is kept off the eligible subtotal.
ELIGIBLE_KINDS = frozenset({LineKind.SERVICE, LineKind.ADDON, LineKind.DISCOUNT, LineKind.REFUND})
# Never printed on a receipt or a superbill (FSA administrators reject them; they are not care).
NEVER_ON_MEDICAL_DOCUMENTS = frozenset({LineKind.NO_SHOW_FEE, LineKind.LATE_CANCEL_FEE})
# Money taken before care: a payment acknowledgement, never a receipt.
PREPAYMENT_KINDS = frozenset({LineKind.PACKAGE, LineKind.DEPOSIT, LineKind.GIFT_CARD})

PLACE_OF_SERVICE_OFFICE = "11"
MAX_DIAGNOSES = 12  # CMS-1500 box 21, A to L
DIAGNOSIS_LETTERS = "ABCDEFGHIJKL"
_LAST4 = re.compile(r"^\d{4}$")


@dataclass(frozen=True)
class PracticeParty:
    name: str
    address_lines: tuple[str, ...] = ()
    phone: str = ""
    ein: str = ""
    npi: str | None = None


@dataclass(frozen=True)
class TherapistParty:
    name: str
    credential: str = ""
    license_number: str = ""
    license_state: str = ""
    npi: str | None = None

    @property
    def display_name(self) -> str:
        return f"{self.name}, {self.credential}" if self.credential else self.name

    @property
    def licence(self) -> str:
        """'MA 12345' (state, number), or '' when no licence is on file."""
        return " ".join(p for p in (self.license_state, self.license_number) if p)


@dataclass(frozen=True)
class ClientParty:
    name: str
    address_lines: tuple[str, ...] = ()
    date_of_birth: dt.date | None = None
    member_id: str = ""


@dataclass(frozen=True)
class LmnReference:
    """The letter of medical necessity covering the services (a reference, never its condition text)."""

    signed_on: dt.date
    issuer_name: str
    issuer_credential: str = ""
    issuer_npi: str | None = None
    expires_on: dt.date | None = None

    @property
    def text(self) -> str:
        signer = f"{self.issuer_name}, {self.issuer_credential}" if self.issuer_credential else self.issuer_name
        return f"LMN on file, signed {self.signed_on:%B} {self.signed_on.day}, {self.signed_on.year} by {signer}"

    @property
    def valid_to(self) -> dt.date:
        """The last day covered: the expiry on the letter, else one year after signing."""
        return self.expires_on or _one_year_after(self.signed_on)

    def covers(self, day: dt.date) -> bool:
        """A session before the letter, or after it lapses (12 months when no expiry is given), is not covered."""
        return self.signed_on <= day <= self.valid_to

    def distance(self, day: dt.date) -> int:
        """Days from `day` to the letter's window (0 inside it): the nearest letter explains a miss best."""
        if day < self.signed_on:
            return (self.signed_on - day).days
        return max((day - self.valid_to).days, 0)


def _one_year_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


@dataclass(frozen=True)
class DocumentLine:
    """One line: `amount` is the line's total after discounts (unit price x quantity), in minor units."""

    service_date: dt.date
    description: str
    amount: int
    kind: LineKind = LineKind.SERVICE
    fsa_eligible: bool = True
    minutes: int | None = None
    cpt_code: str | None = None
    modifier: str = ""
    units: int | None = None
    diagnosis_codes: tuple[str, ...] = ()
    quantity: int = 1
    therapist_name: str = ""
    place_of_service: str = PLACE_OF_SERVICE_OFFICE
    paid: int | None = None  # statements: the part of `amount` that was paid
    reference: str = ""  # statements and credit notes: the receipt number the line comes from
    discount: int = 0  # what discounts took off this line (already out of `amount`; `billing.discounts`)
    discount_note: str = ""  # "list $120.00, less $20.00 loyalty discount"

    @property
    def eligible(self) -> bool:
        return self.fsa_eligible and self.kind in ELIGIBLE_KINDS

    @property
    def cpt_units(self) -> int | None:
        """Units printed for the CPT code: given explicitly, or by the 8-minute rule from the minutes."""
        if self.units is not None:
            return self.units
        if self.cpt_code and self.minutes is not None:
            return cpt_units(self.minutes)
        return None


@dataclass(frozen=True)
class Tender:
    """How money was paid (or given back), and on which day. A card shows its brand and last four digits at
    most (never number or expiry); a package session names the package (`detail`)."""

    method: str
    amount: int
    card_brand: str | None = None
    card_last4: str | None = None
    paid_on: dt.date | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.card_last4 is not None and not _LAST4.match(self.card_last4):
            msg = "card_last4 must be exactly four digits"
            raise ValueError(msg)

    @property
    def label(self) -> str:
        if self.detail:
            return self.detail
        if self.card_brand or self.card_last4:
            brand = (self.card_brand or "card").title()
            return f"{brand} ending {self.card_last4}" if self.card_last4 else brand
        return self.method.replace("_", " ").capitalize()


@dataclass(frozen=True)
class DocumentSnapshot:
    kind: DocumentKind
    currency: str
    practice: PracticeParty
    client: ClientParty
    therapist: TherapistParty | None = None
    lines: tuple[DocumentLine, ...] = ()
    tenders: tuple[Tender, ...] = ()
    lmn: tuple[LmnReference, ...] = ()
    package_sessions_remaining: int | None = None
    references_number: str | None = None  # a credit note's receipt
    reason: str = ""
    year: int | None = None  # statements
    therapists: tuple[TherapistParty, ...] = ()  # statements: each therapist named on a line, once
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        if self.kind == DocumentKind.CREDIT_NOTE and not self.tenders:
            return "Correction (credit note)"  # no money moved: nothing was refunded
        return TITLES[self.kind]

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def eligible_lines(self) -> tuple[DocumentLine, ...]:
        return tuple(line for line in self.lines if line.eligible)

    @property
    def ineligible_lines(self) -> tuple[DocumentLine, ...]:
        return tuple(line for line in self.lines if not line.eligible)

    @property
    def eligible_subtotal(self) -> int:
        return sum(line.amount for line in self.eligible_lines)

    @property
    def ineligible_subtotal(self) -> int:
        return sum(line.amount for line in self.ineligible_lines)

    @property
    def paid(self) -> int:
        if self.kind == DocumentKind.STATEMENT:
            return sum(line.paid or 0 for line in self.lines)
        return sum(t.amount for t in self.tenders)

    @property
    def balance(self) -> int:
        return self.total - self.paid

    @property
    def diagnosis_codes(self) -> tuple[str, ...]:
        """ICD-10 codes of all lines, first-seen order, at most twelve (CMS-1500 box 21 A-L)."""
        return diagnosis_codes(self.lines)

    def diagnosis_pointer(self, line: DocumentLine) -> str:
        return diagnosis_pointer(self.diagnosis_codes, line)

    def lmn_window_miss(self, line: DocumentLine) -> LmnReference | None:
        """On a statement, the letter a care line falls outside of (the nearest), or None when a letter on
        file covers its date of service or no letter is on file at all."""
        if not self.lmn or line.kind is LineKind.REFUND or any(lmn.covers(line.service_date) for lmn in self.lmn):
            return None
        return min(self.lmn, key=lambda lmn: lmn.distance(line.service_date))

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> DocumentSnapshot:
        return msgspec.json.decode(raw, type=cls)

    @property
    def digest(self) -> str:
        """SHA-256 of the content: two snapshots with the same digest would print the same document."""
        return hashlib.sha256(self.to_json()).hexdigest()


def diagnosis_codes(lines: Iterable[DocumentLine]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for line in lines:
        for code in line.diagnosis_codes:
            seen.setdefault(code.strip().upper(), None)
    return tuple(seen)[:MAX_DIAGNOSES]


def diagnosis_pointer(codes: tuple[str, ...], line: DocumentLine) -> str:
    """A line's CMS-1500 24E pointer: the letters of its codes in box 21, at most four ('AB')."""
    letters = [DIAGNOSIS_LETTERS[codes.index(c.upper())] for c in line.diagnosis_codes if c.upper() in codes]
    return "".join(letters[:4])


def medical_lines(lines: Iterable[DocumentLine]) -> tuple[DocumentLine, ...]:
    """The lines a receipt or superbill may print: never a no-show or late-cancellation fee."""
    return tuple(line for line in lines if line.kind not in NEVER_ON_MEDICAL_DOCUMENTS)


def is_prepayment(lines: Iterable[DocumentLine]) -> bool:
    """Money for care not yet given (a package, a deposit, a gift card): acknowledged, not receipted."""
    kinds = {line.kind for line in lines}
    return bool(kinds & PREPAYMENT_KINDS) and not kinds & {LineKind.SERVICE, LineKind.ADDON}
