"""Imports every model module so the metadata is complete (migrations, the drift check)."""

from scheduler.db import StoreEntry, WebSession
from scheduler.practice.models import (
    ApiToken,
    Practice,
    Room,
    Service,
    StaffUser,
    Therapist,
    TherapistService,
    WorkingHours,
)

__all__ = [
    "ApiToken",
    "Practice",
    "Room",
    "Service",
    "StaffUser",
    "StoreEntry",
    "Therapist",
    "TherapistService",
    "WebSession",
    "WorkingHours",
]
