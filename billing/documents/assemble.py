"""One PDF made of others, page for page: the claim packet's cover followed by the documents it lists.

Pure (bytes in, bytes out). The parts are the stored, issued PDFs, appended as they are (never re-rendered),
so a page of the packet is byte-for-byte the receipt the client was given.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from pypdf import PdfReader, PdfWriter


def concatenate(pdfs: Sequence[bytes]) -> bytes:
    writer = PdfWriter()
    for pdf in pdfs:
        writer.append(PdfReader(io.BytesIO(pdf)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)
