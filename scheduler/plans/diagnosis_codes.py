"""ICD-10-CM diagnosis codes checked against the CMS code set: normalised, billable, or refused with what to use.

A code is billable only when it is a leaf of the classification: `M54.50` is; `M54` (a category) and `M54.5`
(a heading since the October 2021 update split it into M54.50/M54.51/M54.59) are not, and an insurer returns a
claim that carries them. The code set is the `simple-icd-10-cm` package's copy of the CMS/CDC release named in
`CODE_SET_RELEASE`; a new release is a version bump of that package, never a list kept here.

Pure: no ORM, no web. Loading the code set takes a few seconds, so it is loaded on first use, once per process.
"""

from __future__ import annotations

import enum
import functools
import importlib
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

from scheduler.errors import DiagnosisCodeRefused, InvalidInput

CODE_SET_RELEASE = "April 1, 2026 ICD-10-CM release (CMS fiscal year 2026)"
MAX_CODES = 20
# Past this many billable codes under a heading, suggest its next level down instead of every leaf.
MAX_REPLACEMENTS = 12
# The shape of an ICD-10-CM code once the dot is taken out: a letter, two more, then up to four more.
_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")


class Refusal(enum.StrEnum):
    UNKNOWN = "unknown"  # not in the code set: made up, mistyped or deleted
    NOT_BILLABLE = "not_billable"  # a category or heading with codes under it


@dataclass(frozen=True)
class CodeProblem:
    """Why a code cannot go on a claim, and the billable codes the set knows in its place."""

    code: str
    refusal: Refusal
    replacements: tuple[str, ...] = ()
    # False when the heading has too many billable codes to list, and `replacements` is its next level down.
    replacements_billable: bool = True

    @property
    def sentence(self) -> str:
        if self.refusal is Refusal.UNKNOWN:
            return f"{self.code} is not a code in the {CODE_SET_RELEASE}."
        listed = ", ".join(self.replacements)
        if self.replacements_billable:
            return f"{self.code} is a heading, not a billable ICD-10-CM code: use one of {listed}."
        return f"{self.code} is a heading, not a billable ICD-10-CM code: use a billable code under {listed}."


@functools.cache
def _code_set() -> ModuleType:
    # Importing it parses the whole classification (seconds): only when a code is first checked.
    # It reads its data with an importlib.resources call Python deprecates: not ours to act on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module("simple_icd_10_cm")


def normalise(raw: str) -> str:
    """' m5450 ' -> 'M54.50': upper case, spaces dropped, the dot optional on input and always printed."""
    bare = re.sub(r"\s+", "", raw).upper().replace(".", "")
    return bare if len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"


def is_code_shaped(code: str) -> bool:
    return bool(_SHAPE.match(code.replace(".", "")))


def problem_with(code: str) -> CodeProblem | None:
    """None when `code` (normalised) is a billable ICD-10-CM code, else what is wrong with it."""
    codes = _code_set()
    if not is_code_shaped(code) or not codes.is_category_or_subcategory(code):
        return CodeProblem(code, Refusal.UNKNOWN)
    if codes.is_leaf(code):
        return None
    billable = tuple(c for c in codes.get_descendants(code) if codes.is_leaf(c))
    if len(billable) <= MAX_REPLACEMENTS:
        return CodeProblem(code, Refusal.NOT_BILLABLE, billable)
    return CodeProblem(code, Refusal.NOT_BILLABLE, tuple(codes.get_children(code)), replacements_billable=False)


def check_codes(raw_codes: Sequence[str], field: str = "diagnosis_codes") -> list[str]:
    """The codes as entered, normalised and de-duplicated; the first bad one refused naming it (400 for text
    that is not code-shaped at all, 422 for a code the set does not accept, with its replacements)."""
    if not raw_codes:
        raise InvalidInput("Give at least one ICD-10-CM code, e.g. M62.830.", field=field)
    if len(raw_codes) > MAX_CODES:
        raise InvalidInput(f"At most {MAX_CODES} codes.", field=field)
    cleaned = [normalise(raw) for raw in raw_codes]
    for index, code in enumerate(cleaned):
        if not is_code_shaped(code):
            raise InvalidInput(
                f"{raw_codes[index].strip()!r} is not an ICD-10-CM code (e.g. M62.830).", field=f"{field}[{index}]"
            )
        problem = problem_with(code)
        if problem is not None:
            raise DiagnosisCodeRefused(
                problem.sentence,
                field=f"{field}[{index}]",
                diagnosis_code=code,
                reason=problem.refusal.value,
                replacements=list(problem.replacements),
            )
    return list(dict.fromkeys(cleaned))


def billable_and_refused(codes: Sequence[str]) -> tuple[tuple[str, ...], tuple[CodeProblem, ...]]:
    """Split codes already on file (entered before the check, or copied onto a receipt) into the billable
    ones, in order, and the problems with the rest."""
    billable: list[str] = []
    problems: list[CodeProblem] = []
    for code in dict.fromkeys(normalise(c) for c in codes):
        problem = problem_with(code)
        if problem is None:
            billable.append(code)
        else:
            problems.append(problem)
    return tuple(billable), tuple(problems)
