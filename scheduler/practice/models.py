"""Practice (the tenant) and what it is made of: staff users and their API tokens, therapists, rooms,
services and weekly working hours."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.db import Base, TenantScoped, enum_values


class Practice(Base):
    """One practice: the tenant every other row belongs to."""

    __tablename__ = "practice"

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_name: Mapped[str] = mapped_column(String(200), default="")
    address_line1: Mapped[str] = mapped_column(String(200), default="")
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(2), default="US")
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    ein: Mapped[str] = mapped_column(String(20), default="")
    npi: Mapped[str | None] = mapped_column(String(10), nullable=True, default=None)
    # Booking policy: how soon, how far ahead, on which grid clients may book, and until when they
    # may cancel or move a visit themselves.
    min_notice_minutes: Mapped[int] = mapped_column(Integer, default=120, server_default="120")
    horizon_days: Mapped[int] = mapped_column(Integer, default=90, server_default="90")
    slot_granularity_minutes: Mapped[int] = mapped_column(Integer, default=15, server_default="15")
    cancellation_window_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    policies: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)

    @property
    def address_lines(self) -> list[str]:
        city_line = " ".join(p for p in (f"{self.city}," if self.city else "", self.region, self.postal_code) if p)
        return [line for line in (self.address_line1, self.address_line2, city_line) if line]


class Role(enum.StrEnum):
    OWNER = "owner"
    DESK = "desk"
    THERAPIST = "therapist"


class StaffUser(TenantScoped, Base):
    """A person who signs in to run the practice."""

    __tablename__ = "staff_user"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=20, validate_strings=True, values_callable=enum_values)
    )
    therapist_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("therapist.id", ondelete="SET NULL"), nullable=True, default=None
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class ApiToken(TenantScoped, Base):
    """A staff API token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_token"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    label: Mapped[str] = mapped_column(String(100), default="")
    last_used_at: Mapped[dt.datetime | None] = mapped_column(nullable=True, default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True, default=None)

    user: Mapped[StaffUser] = relationship(lazy="joined")


class Therapist(TenantScoped, Base):
    __tablename__ = "therapist"

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    credential: Mapped[str] = mapped_column(String(40), default="")
    license_number: Mapped[str] = mapped_column(String(60), default="")
    license_state: Mapped[str] = mapped_column(String(20), default="")
    npi: Mapped[str | None] = mapped_column(String(10), nullable=True, default=None)
    bio: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name}, {self.credential}" if self.credential else name


class Room(TenantScoped, Base):
    __tablename__ = "room"
    __table_args__ = (UniqueConstraint("practice_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Service(TenantScoped, Base):
    __tablename__ = "service"
    __table_args__ = (
        CheckConstraint("duration_minutes > 0", name="duration_positive"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("buffer_before_minutes >= 0 AND buffer_after_minutes >= 0", name="buffers_not_negative"),
    )

    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    duration_minutes: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(Integer)  # minor units of the practice's currency
    cpt_code: Mapped[str | None] = mapped_column(String(10), nullable=True, default=None)
    fsa_eligible: Mapped[bool] = mapped_column(Boolean, default=True)
    buffer_before_minutes: Mapped[int] = mapped_column(Integer, default=0)
    buffer_after_minutes: Mapped[int] = mapped_column(Integer, default=0)
    bookable_online: Mapped[bool] = mapped_column(Boolean, default=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class TherapistService(TenantScoped, Base):
    """Which services a therapist performs."""

    __tablename__ = "therapist_service"
    __table_args__ = (UniqueConstraint("therapist_id", "service_id"),)

    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapist.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))


class WorkingHours(TenantScoped, Base):
    """One weekly interval a therapist works, in the practice's local wall time (0 = Monday)."""

    __tablename__ = "working_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("start_time < end_time", name="start_before_end"),
    )

    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapist.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[dt.time] = mapped_column(Time)
    end_time: Mapped[dt.time] = mapped_column(Time)


class ServiceRoom(TenantScoped, Base):
    """Rooms that can host a service. A service with no rows here can use any room."""

    __tablename__ = "service_room"
    __table_args__ = (UniqueConstraint("service_id", "room_id"),)

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("room.id", ondelete="CASCADE"))


class ExtraHours(TenantScoped, Base):
    """A one-off extra working interval on a local date (covering a Saturday, say)."""

    __tablename__ = "extra_hours"
    __table_args__ = (CheckConstraint("start_time < end_time", name="start_before_end"),)

    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapist.id", ondelete="CASCADE"), index=True)
    day: Mapped[dt.date] = mapped_column(Date)
    start_time: Mapped[dt.time] = mapped_column(Time)
    end_time: Mapped[dt.time] = mapped_column(Time)


class TimeOff(TenantScoped, Base):
    """A therapist is away from `start_at` to `end_at` (instants, UTC)."""

    __tablename__ = "time_off"
    __table_args__ = (CheckConstraint("start_at < end_at", name="start_before_end"),)

    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapist.id", ondelete="CASCADE"), index=True)
    start_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    end_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    reason: Mapped[str] = mapped_column(String(200), default="")
