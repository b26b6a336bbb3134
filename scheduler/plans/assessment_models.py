"""Baseline and periodic assessments of a treatment plan (health information).

Each assessment records the same measures: pain per area (0 to 10), range of motion per joint and movement
(degrees) and functional limits (0 to 10 difficulty, with a note). The baseline is the one the plan's
progress is measured against. Recorded at a re-assessment visit, it names that appointment.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from advanced_alchemy.types import JsonB
from sqlalchemy import Boolean, Date, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.db import Base, TenantScoped


class Assessment(TenantScoped, Base):
    __tablename__ = "assessment"

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("treatment_plan.id", ondelete="CASCADE"), index=True)
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointment.id", ondelete="SET NULL"), nullable=True, default=None, index=True
    )
    recorded_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"), nullable=True, default=None
    )
    is_baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    assessed_on: Mapped[dt.date] = mapped_column(Date)
    # [{"area": "lower back", "intensity": 7}]
    pain: Mapped[list[dict[str, Any]]] = mapped_column(JsonB, default=list)
    # [{"joint": "neck", "movement": "rotation left", "degrees": 45}]
    range_of_motion: Mapped[list[dict[str, Any]]] = mapped_column(JsonB, default=list)
    # [{"activity": "sitting at a desk", "score": 6, "note": "needs breaks every 20 minutes"}]
    functional_limits: Mapped[list[dict[str, Any]]] = mapped_column(JsonB, default=list)
    # The therapist's own notes: never shown to the client, never in the progress report.
    notes: Mapped[str] = mapped_column(Text, default="")
