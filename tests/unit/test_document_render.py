"""Rendering documents to PDF: one clean page on US Letter and A4, DejaVu embedded, text escaped right."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re

import pytest
from pypdf import PdfReader

from billing.documents import samples
from billing.documents.render import page_size_for, render_pdf
from billing.documents.snapshot import DocumentSnapshot

SAMPLES = {
    "receipt": samples.sample_receipt,
    "statement": samples.sample_statement,
    "superbill": samples.sample_superbill,
    "payment_ack": samples.sample_payment_ack,
    "credit_note": samples.sample_credit_note,
    "fee_notice": samples.sample_fee_notice,
}
# Points: US Letter is 8.5 x 11 in, A4 is 210 x 297 mm.
PAGE_POINTS = {"Letter": (612, 792), "A4": (595, 842)}


def _render(snapshot: DocumentSnapshot, page_size: str = "Letter", *, copy: bool = False) -> PdfReader:
    pdf = render_pdf(snapshot, number="R-000042", issued_on=dt.date(2026, 3, 2), page_size=page_size, copy=copy)
    return PdfReader(io.BytesIO(pdf))


def _fonts(reader: PdfReader) -> set[str]:
    names = set()
    for page in reader.pages:
        fonts = page["/Resources"]["/Font"]
        for ref in fonts.values():
            font = ref.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            descriptor = descendant["/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor, f"{font['/BaseFont']} is not embedded"
            names.add(str(font["/BaseFont"]).split("+", 1)[-1])
    return names


@pytest.mark.parametrize("page_size", ["Letter", "A4"])
@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_document_fits_one_page_of_the_paper_with_dejavu_embedded(kind: str, page_size: str) -> None:
    reader = _render(SAMPLES[kind](), page_size)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == PAGE_POINTS[page_size]
    assert _fonts(reader) <= {"DejaVu-Sans", "DejaVu-Sans-Bold"}
    assert "DejaVu-Sans" in _fonts(reader)


def test_footer_prints_names_with_ampersands_and_quotes_as_written() -> None:
    practice = dataclasses.replace(samples.PRACTICE, name='Smith & Sons "Bodywork" </style>')
    snapshot = dataclasses.replace(samples.sample_receipt(), practice=practice)
    text = _render(snapshot).pages[0].extract_text()
    assert 'Smith & Sons "Bodywork" </style> · Receipt R-000042' in text
    assert "&amp;" not in text


def test_html_in_a_line_description_is_printed_not_interpreted() -> None:
    receipt = samples.sample_receipt()
    line = dataclasses.replace(receipt.lines[0], description="<b>Deep</b> tissue & stretch")
    snapshot = dataclasses.replace(receipt, lines=(line, *receipt.lines[1:]))
    assert "<b>Deep</b> tissue & stretch" in _render(snapshot).pages[0].extract_text()


def test_a_copy_says_copy_and_the_original_does_not() -> None:
    assert "COPY" in _render(samples.sample_receipt(), copy=True).pages[0].extract_text()
    assert "COPY" not in _render(samples.sample_receipt()).pages[0].extract_text()


@pytest.mark.parametrize(
    ("country", "setting", "expected"),
    [
        ("US", None, "Letter"),
        ("CA", None, "Letter"),
        ("GB", None, "A4"),
        ("DE", None, "A4"),
        ("US", "a4", "A4"),
        ("GB", "Letter", "Letter"),
        ("US", "legal", "Letter"),
        ("FR", 3, "A4"),
    ],
)
def test_paper_follows_the_practice_setting_else_its_country(country: str, setting: object, expected: str) -> None:
    assert page_size_for(country, setting) == expected


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_dates_print_as_people_write_them_never_as_iso_text(kind: str) -> None:
    """A date kept as ISO text in a snapshot (the fee notice's charge date) prints like every other date
    ("Mar 2, 2026"): two templates once gave the `isodate` filter different meanings and the fee notice
    printed "on 2026-03-02"."""
    text = "".join(page.extract_text() for page in _render(SAMPLES[kind]()).pages)
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", text), text
