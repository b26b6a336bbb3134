"""Appointments, their audit trail, and the client's manage links.

No double booking is enforced by the database on PostgreSQL: exclusion constraints over the
appointment's block (service time plus buffers) per therapist and per room, for live statuses only.
SQLite has no such constraint; there the booking service takes the write lock (`begin_write`) and
checks inside the same transaction.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import Boolean, CheckConstraint, Enum, ForeignKey, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, TenantScoped, enum_values


class AppointmentStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"  # held while an online deposit is paid
    BOOKED = "booked"
    ARRIVED = "arrived"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


# Statuses that hold the therapist's and the room's time. A no-show or a cancellation frees it.
LIVE_STATUSES = (
    AppointmentStatus.PENDING_PAYMENT,
    AppointmentStatus.BOOKED,
    AppointmentStatus.ARRIVED,
    AppointmentStatus.COMPLETED,
)
_LIVE_SQL = "status IN (" + ", ".join(f"'{s.value}'" for s in LIVE_STATUSES) + ")"


class Appointment(TenantScoped, Base):
    __tablename__ = "appointment"
    __table_args__ = (
        CheckConstraint("start_at < end_at", name="start_before_end"),
        CheckConstraint("block_start <= start_at AND end_at <= block_end", name="block_covers_visit"),
        Index("ix_appointment_therapist_block", "therapist_id", "block_start"),
        Index("ix_appointment_room_block", "room_id", "block_start"),
        Index("ix_appointment_practice_start", "practice_id", "start_at"),
        ExcludeConstraint(
            (text("therapist_id"), "="),
            (func.tstzrange(text("block_start"), text("block_end"), "[)"), "&&"),
            name="no_double_booking_therapist",
            using="gist",
            where=text(_LIVE_SQL),
        ).ddl_if(dialect="postgresql"),
        ExcludeConstraint(
            (text("room_id"), "="),
            (func.tstzrange(text("block_start"), text("block_end"), "[)"), "&&"),
            name="no_double_booking_room",
            using="gist",
            where=text(f"room_id IS NOT NULL AND {_LIVE_SQL}"),
        ).ddl_if(dialect="postgresql"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="RESTRICT"), index=True)
    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapist.id", ondelete="RESTRICT"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service.id", ondelete="RESTRICT"))
    room_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("room.id", ondelete="RESTRICT"), nullable=True)
    start_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    end_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    # The time the appointment holds: the visit plus the service's buffers before and after.
    block_start: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    block_end: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    status: Mapped[AppointmentStatus] = mapped_column(
        Enum(AppointmentStatus, native_enum=False, length=20, validate_strings=True, values_callable=enum_values),
        default=AppointmentStatus.BOOKED,
    )
    source: Mapped[str] = mapped_column(String(20), default="staff")  # staff | online
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")
    cancelled_late: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    # A `pending_payment` hold lapses at this instant: from then on it reads as free, and the next booking
    # that needs the time releases it (status cancelled, reason "hold expired").
    hold_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    # SHA-256 of the client's manage-link token; the token itself is only in the link.
    manage_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class AppointmentEvent(TenantScoped, Base):
    """Audit trail: who changed what on an appointment, and when (created_at)."""

    __tablename__ = "appointment_event"

    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment.id", ondelete="CASCADE"), index=True)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"), nullable=True
    )
    actor: Mapped[str] = mapped_column(String(40))  # staff | client | system
    action: Mapped[str] = mapped_column(String(40))  # booked, rescheduled, cancelled, arrived, …
    detail: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
