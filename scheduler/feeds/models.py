"""Feed tokens: the secret in a calendar subscription URL, one live token per feed owner.

Only the SHA-256 of a token is stored. Issuing a new token for an owner revokes the previous one, so a
leaked URL is cut off by rotating it; a revoked token reads exactly like an unknown one.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Enum, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.booking.models import Appointment, AppointmentSeries
from scheduler.clients.models import Client
from scheduler.db import Base, TenantScoped, enum_values


class FeedOwnerKind(enum.StrEnum):
    THERAPIST = "therapist"
    CLIENT = "client"
    ROOM = "room"


class FeedToken(TenantScoped, Base):
    __tablename__ = "feed_token"
    __table_args__ = (Index("ix_feed_token_owner", "owner_kind", "owner_id"),)

    owner_kind: Mapped[FeedOwnerKind] = mapped_column(
        Enum(FeedOwnerKind, native_enum=False, length=20, validate_strings=True, values_callable=enum_values)
    )
    # A therapist, client or room id; no foreign key because it points at one of three tables.
    owner_id: Mapped[uuid.UUID] = mapped_column()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True, default=None)


# A feed's fingerprint (feeds/services.py) reads the newest change of the practice's appointments,
# series and clients on every poll; these make each an index seek instead of a scan.
for _model in (Appointment, AppointmentSeries, Client):
    Index(f"ix_{_model.__tablename__}_practice_updated", _model.practice_id, _model.updated_at)
