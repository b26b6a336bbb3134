"""Imports every model module so the metadata is complete (migrations, the drift check)."""

import importlib

from scheduler.booking.models import Appointment, AppointmentEvent
from scheduler.clients.models import Client, ClientSignInLink
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

# Billing's tables share the metadata. Imported by name: scheduler code never depends on billing's types.
importlib.import_module("billing.documents.models")

__all__ = [
    "ApiToken",
    "Appointment",
    "AppointmentEvent",
    "Client",
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
