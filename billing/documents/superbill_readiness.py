"""What a superbill needs before an insurer will take it, checked on the snapshot it would print. Pure.

Out-of-network claims are filed on a CMS-1500 built from the superbill; a claim without the patient's date of
birth (box 3), a billable ICD-10-CM code (box 21), the rendering provider's NPI (24J) and licence, the billing
provider's NPI or EIN (25, 33a) or, when a physician referred the client, that physician's NPI (17b) comes
back unpaid. So a superbill lacking any of them is not issued: every missing item is listed at once, each with
a sentence and the page that fixes it, rather than one per attempt.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from billing.documents.snapshot import DocumentSnapshot
from scheduler.plans.diagnosis_codes import CodeProblem


class FixOn(enum.StrEnum):
    """The page where the desk fixes an item."""

    CLIENT = "client"
    THERAPIST = "therapist"
    PRACTICE = "practice"
    PLAN = "plan"

    @property
    def link_text(self) -> str:
        return FIX_LINK_TEXT[self]


FIX_LINK_TEXT = {
    FixOn.CLIENT: "Edit the client",
    FixOn.THERAPIST: "Therapist set-up (owners)",
    FixOn.PRACTICE: "Practice set-up (owners)",
    FixOn.PLAN: "Open the treatment plan",
}


# Every item, in the order of the CMS-1500 boxes, as the desk's checklist names it.
REQUIREMENTS = {
    "date_of_birth": "The patient's date of birth",
    "referring_provider_npi": "The referring provider's NPI, when a physician's letter is on file",
    "diagnosis_codes": "At least one billable ICD-10-CM diagnosis code",
    "therapist_npi": "The rendering therapist's individual NPI",
    "therapist_licence": "The rendering therapist's licence number",
    "practice_npi_or_ein": "The practice's NPI or EIN",
}


@dataclass(frozen=True)
class MissingItem:
    item: str  # stable key: date_of_birth, diagnosis_codes, therapist_npi, therapist_licence, ...
    detail: str  # one sentence the desk can act on
    fix: FixOn


@dataclass(frozen=True)
class FixPages:
    """The ids behind the fix links (a visit without a plan fixes its codes on the client's clinical page)."""

    client_id: uuid.UUID
    therapist_id: uuid.UUID | None = None
    plan_id: uuid.UUID | None = None

    def url(self, fix: FixOn) -> str:
        if fix is FixOn.THERAPIST and self.therapist_id is not None:
            return f"/staff/setup/therapists/{self.therapist_id}"
        if fix is FixOn.PRACTICE:
            return "/staff/setup#identifiers"
        if fix is FixOn.PLAN:
            return f"/staff/plans/{self.plan_id}" if self.plan_id else f"/staff/clients/{self.client_id}/health"
        return f"/staff/clients/{self.client_id}#date-of-birth"


def missing_for_superbill(snapshot: DocumentSnapshot, refused_codes: Sequence[CodeProblem]) -> tuple[MissingItem, ...]:
    """Every item the superbill lacks, in the order of the CMS-1500 boxes; empty when it can be issued."""
    missing: list[MissingItem] = []
    if snapshot.client.date_of_birth is None:
        missing.append(
            MissingItem(
                "date_of_birth", f"{snapshot.client.name}'s date of birth is not on file (box 3).", FixOn.CLIENT
            )
        )
    letter = snapshot.lmn[0] if snapshot.lmn else None
    if letter is not None and not letter.issuer_npi:
        missing.append(
            MissingItem(
                "referring_provider_npi",
                f"The referring provider, {letter.issuer_name}, has no NPI on the letter of medical necessity "
                "(box 17b).",
                FixOn.PLAN,
            )
        )
    if not snapshot.diagnosis_codes:
        refused = " ".join(problem.sentence for problem in refused_codes)
        missing.append(
            MissingItem(
                "diagnosis_codes",
                "No billable ICD-10-CM diagnosis code on the treatment plan (box 21)."
                + (f" {refused}" if refused else ""),
                FixOn.PLAN,
            )
        )
    therapist = snapshot.therapist
    name = therapist.display_name if therapist is not None else "The rendering therapist"
    if therapist is None or not therapist.npi:
        missing.append(
            MissingItem("therapist_npi", f"{name} has no individual NPI on file (box 24J).", FixOn.THERAPIST)
        )
    if therapist is None or not therapist.license_number:
        missing.append(MissingItem("therapist_licence", f"{name} has no licence number on file.", FixOn.THERAPIST))
    if not snapshot.practice.npi and not snapshot.practice.ein:
        missing.append(
            MissingItem(
                "practice_npi_or_ein",
                "The practice has neither an NPI nor an EIN on file (boxes 25, 33a).",
                FixOn.PRACTICE,
            )
        )
    return tuple(missing)


def not_ready_sentence(missing: Sequence[MissingItem]) -> str:
    items = "; ".join(item.detail.rstrip(".") for item in missing)
    count = "one item" if len(missing) == 1 else f"{len(missing)} items"
    return f"The superbill cannot be issued yet: it lacks {count} an insurer needs: {items}."
