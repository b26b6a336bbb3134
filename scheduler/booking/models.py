"""Appointments, their audit trail, and the client's manage links.

No double booking is enforced by the database on PostgreSQL: exclusion constraints over the
appointment's block (service time plus buffers) per therapist and per room, for live statuses only.
SQLite has no such constraint. On both, the booking service first takes the practice's calendar lock
(`begin_calendar_write`: SQLite's write lock, a PostgreSQL advisory lock) and checks inside the same
transaction, so the constraints are the safety net, not the usual way a lost race ends.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
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
    # Recurring series: the series this occurrence belongs to, and its ORIGINAL local wall-clock start
    # in the series' zone (RFC 5545 RECURRENCE-ID; unchanged when the occurrence is moved).
    series_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointment_series.id", ondelete="SET NULL"), nullable=True, index=True, default=None
    )
    recurrence_id: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=False), nullable=True, default=None)
    kind: Mapped[str] = mapped_column(String(20), default="treatment", server_default="treatment")
    plan_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("treatment_plan.id", ondelete="SET NULL"), nullable=True, index=True, default=None
    )

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class AppointmentKind(enum.StrEnum):
    TREATMENT = "treatment"
    REASSESSMENT = "reassessment"


class SeriesStatus(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"  # truncated by a "this and following" split; the continuation is a child series
    CANCELLED = "cancelled"


class AppointmentSeries(TenantScoped, Base):
    """A recurring series: local wall time + IANA zone + RRULE; its occurrences are appointments.

    `sequence` is the RFC 5545 SEQUENCE: +1 on every change to the series or any of its occurrences.
    """

    __tablename__ = "appointment_series"

    plan_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("treatment_plan.id", ondelete="SET NULL"), nullable=True, index=True, default=None
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="RESTRICT"), index=True)
    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapist.id", ondelete="RESTRICT"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service.id", ondelete="RESTRICT"))
    room_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("room.id", ondelete="RESTRICT"), nullable=True, default=None
    )
    timezone: Mapped[str] = mapped_column(String(64))
    dtstart_local: Mapped[dt.datetime] = mapped_column(DateTime(timezone=False))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    # RRULE value without DTSTART, e.g. "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;COUNT=8"; UNTIL in UTC with Z.
    rrule: Mapped[str] = mapped_column(String(500))
    sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(20), default=SeriesStatus.ACTIVE.value, server_default="active")
    parent_series_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointment_series.id", ondelete="SET NULL"), nullable=True, default=None
    )


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
