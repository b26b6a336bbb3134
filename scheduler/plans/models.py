"""Treatment plans and letters of medical necessity.

A plan is health information (diagnoses, goals, techniques): it is read on clinical pages and the
staff API only, never copied into feeds, e-mails, payment metadata, logs or URLs.
The plan's `frequency` is the recurrence the series is built from (see scheduler/booking/recurrence.py);
`first_start_local` is a naive local wall time in the practice's time zone.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from advanced_alchemy.types import JsonB
from sqlalchemy import CheckConstraint, Date, DateTime, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, TenantScoped, enum_values


class PlanStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TreatmentPlan(TenantScoped, Base):
    __tablename__ = "treatment_plan"
    __table_args__ = (
        # Exactly one way to end the plan: a number of sessions or an end date.
        CheckConstraint("(sessions IS NULL) <> (until IS NULL)", name="sessions_xor_until"),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="RESTRICT"), index=True)
    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapist.id", ondelete="RESTRICT"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service.id", ondelete="RESTRICT"))
    reassessment_service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("service.id", ondelete="RESTRICT"), nullable=True, default=None
    )
    diagnosis_codes: Mapped[list[str]] = mapped_column(JsonB, default=list)
    goals: Mapped[list[str]] = mapped_column(JsonB, default=list)
    techniques: Mapped[list[str]] = mapped_column(JsonB, default=list)
    # {"freq": "weekly"|"daily"|"monthly", "interval": 1, "weekdays": ["TU"]}
    frequency: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
    sessions: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)
    until: Mapped[dt.date | None] = mapped_column(Date, nullable=True, default=None)
    first_start_local: Mapped[dt.datetime] = mapped_column(DateTime(timezone=False))
    reassess_every: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)
    home_care: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[PlanStatus] = mapped_column(
        Enum(PlanStatus, native_enum=False, length=20, validate_strings=True, values_callable=enum_values),
        default=PlanStatus.ACTIVE,
    )


class LetterOfMedicalNecessity(TenantScoped, Base):
    """The physician's letter a client needs to claim FSA/HSA; occurrences outside its window are flagged."""

    __tablename__ = "letter_of_medical_necessity"
    __table_args__ = (CheckConstraint("signed_on <= expires_on", name="signed_before_expiry"),)

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("treatment_plan.id", ondelete="CASCADE"), index=True)
    issuer_name: Mapped[str] = mapped_column(String(200))
    issuer_credential: Mapped[str] = mapped_column(String(100), default="")
    issuer_npi: Mapped[str | None] = mapped_column(String(10), nullable=True, default=None)
    issuer_address: Mapped[str] = mapped_column(Text, default="")
    signed_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date] = mapped_column(Date)
    condition: Mapped[str] = mapped_column(Text, default="")
    frequency: Mapped[str] = mapped_column(Text, default="")
