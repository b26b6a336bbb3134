"""Imports every model module so the metadata is complete (migrations, the drift check)."""

from scheduler.booking.models import Appointment, AppointmentEvent
from scheduler.clients.models import Client, ClientIntake, ClientIntakeLink, ClientSignInLink
from scheduler.db import StoreEntry, WebSession
from scheduler.mail.models import OutboxMessage
from scheduler.practice.models import (
    ApiToken,
    ExtraHours,
    Practice,
    Room,
    Service,
    ServiceRoom,
    StaffUser,
    Therapist,
    TherapistService,
    TimeOff,
    WorkingHours,
)

__all__ = [
    "ApiToken",
    "Appointment",
    "AppointmentEvent",
    "Client",
    "ClientIntake",
    "ClientIntakeLink",
    "ClientSignInLink",
    "ExtraHours",
    "OutboxMessage",
    "Practice",
    "Room",
    "Service",
    "ServiceRoom",
    "StaffUser",
    "StoreEntry",
    "Therapist",
    "TherapistService",
    "TimeOff",
    "WebSession",
    "WorkingHours",
]
