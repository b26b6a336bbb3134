"""Clients get their documents without asking: an e-mail with a signed download link, once per document.

Written to the outbox in the transaction that issues the document (`services.issue_document`), so the
message exists exactly when the document does, and a hook that fires twice (which issues once) mails once.
The body names the practice, the kind of document and its number, never the PDF and never a health detail
(no service, no diagnosis, no amount): an inbox is not a medical record. The link is signed and expires
(`links`); the portal keeps every document for later.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from billing.documents.links import DEFAULT_LIFETIME, make_download_token
from billing.documents.models import IssuedDocument
from billing.documents.snapshot import TITLES, DocumentKind
from billing.runtime import base_url, link_secret
from scheduler.clients.models import Client
from scheduler.mail import services as mail
from scheduler.practice.models import Practice

# Each kind mailed on issue. A fee notice is mailed by its own issuer, with the policy and the card charged.
MAILED_KINDS = frozenset(
    {
        DocumentKind.RECEIPT,
        DocumentKind.CREDIT_NOTE,
        DocumentKind.PAYMENT_ACK,
        DocumentKind.STATEMENT,
        DocumentKind.SUPERBILL,
        DocumentKind.CLAIM_PACKET,
    }
)
MAIL_KIND = "document_ready"


def download_url(practice: Practice, document: IssuedDocument, expires_at: dt.datetime) -> str:
    """A link that opens one document until it expires; it names no number and cannot be made up."""
    token = make_download_token(link_secret(), document.id, expires_at)
    return f"{base_url()}/p/{practice.slug}/documents/{token}"


def in_sentence(title: str) -> str:
    """'Receipt' -> 'receipt'; an acronym ('FSA/HSA year-end statement') stays as it is."""
    return title if title[:2].isupper() else title[:1].lower() + title[1:]


async def mail_download_link(
    session: AsyncSession, practice: Practice, document: IssuedDocument, *, now: dt.datetime
) -> None:
    """Queue the e-mail telling the document's client it is ready (nothing for a kind not mailed, or no address)."""
    if document.kind not in MAILED_KINDS or document.client_id is None:
        return
    client = await session.get(Client, document.client_id)
    if client is None or not client.email:
        return
    title = in_sentence(TITLES[document.kind])
    body = mail.render(
        "document_ready.txt",
        first_name=client.first_name,
        title=title,
        number=document.number,
        practice={"name": practice.name, "phone": practice.phone},
        download_url=download_url(practice, document, now + DEFAULT_LIFETIME),
        valid_days=DEFAULT_LIFETIME.days,
        portal_url=f"{base_url()}/p/{practice.slug}/portal",
    )
    await mail.enqueue(
        session,
        to=client.email,
        subject=f"{practice.name}: your {title} {document.number}",
        body_text=body,
        kind=MAIL_KIND,
        practice_id=practice.id,
    )
