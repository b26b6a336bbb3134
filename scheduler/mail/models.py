"""The outbox: every e-mail is a row written in the same transaction as the change it reports.

A message `held_for_appointment_id` waits for that visit's online deposit: the sender skips it until the
payment releases it (the column is cleared), and it is deleted once the payment can no longer come.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, TenantScoped


class OutboxMessage(TenantScoped, Base):
    __tablename__ = "outbox_message"

    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body_text: Mapped[str] = mapped_column(Text)
    # [{"filename": "visit.ics", "content_type": "text/calendar", "content": "<text>"}]
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JsonB, default=list)
    kind: Mapped[str] = mapped_column(String(40))  # booking_confirmation, portal_link, …
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    held_for_appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointment.id", ondelete="CASCADE"), nullable=True, index=True, default=None
    )
