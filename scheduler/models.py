"""Imports every model module so the metadata is complete (migrations, the drift check).

Like `app.py`, this is composition: it is the one scheduler module that names billing's tables, so that
one Alembic history covers the whole schema. Scheduler code never uses them.
"""

import billing.documents.models  # issued documents (wiring only)
import billing.models  # noqa: F401  (billing's tables; wiring only)
from scheduler.booking.models import Appointment, AppointmentEvent, AppointmentSeries
from scheduler.clients.models import Client, ClientIntake, ClientIntakeLink, ClientSignInLink
from scheduler.db import StoreEntry, WebSession
from scheduler.feeds.models import FeedToken
from scheduler.idempotency import IdempotencyKey
from scheduler.mail.models import OutboxMessage
from scheduler.plans.assessment_models import Assessment
from scheduler.plans.models import LetterOfMedicalNecessity, TreatmentPlan
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
    "AppointmentSeries",
    "Assessment",
    "Client",
    "ClientIntake",
    "ClientIntakeLink",
    "ClientSignInLink",
    "ExtraHours",
    "FeedToken",
    "IdempotencyKey",
    "LetterOfMedicalNecessity",
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
    "TreatmentPlan",
    "WebSession",
    "WorkingHours",
]
