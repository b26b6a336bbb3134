"""Clients of a practice: who they are and how to reach them. Health history lives in its own tables."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, TenantScoped


class Client(TenantScoped, Base):
    __tablename__ = "client"
    __table_args__ = (
        # One client per e-mail within a practice; e-mails are stored lower-cased.
        Index("uq_client_practice_email", "practice_id", "email", unique=True),
        Index("ix_client_practice_phone", "practice_id", "phone_digits"),
    )

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(40), default="")
    phone_digits: Mapped[str] = mapped_column(String(20), default="")
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date, nullable=True, default=None)
    address_line1: Mapped[str] = mapped_column(String(200), default="")
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def initials(self) -> str:
        return "".join(part[:1].upper() + "." for part in (self.first_name, self.last_name) if part)

    @property
    def address_lines(self) -> tuple[str, ...]:
        """The postal address as written on an envelope: street lines, then "City, Region Postcode"."""
        city_line = " ".join(p for p in (f"{self.city}," if self.city else "", self.region, self.postal_code) if p)
        return tuple(line for line in (self.address_line1, self.address_line2, city_line) if line)


class ClientSignInLink(TenantScoped, Base):
    """A one-time, expiring link that signs a client in to the portal. Only its SHA-256 is stored."""

    __tablename__ = "client_sign_in_link"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True, default=None)


class ClientIntake(TenantScoped, Base):
    """One filled-in intake questionnaire (health information). The latest one is the client's current
    intake; earlier ones stay as history. `answers` is `intake_rules.IntakeAnswers.to_json()`."""

    __tablename__ = "client_intake"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"), index=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
    consented_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))


class ClientIntakeLink(TenantScoped, Base):
    """A link the desk sends a client to fill in the intake without an account. Only its SHA-256 is
    stored; it is spent when the questionnaire is submitted and expires unused after INTAKE_LINK_LIFETIME."""

    __tablename__ = "client_intake_link"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True, default=None)
