"""msgspec shapes for treatment plans and letters of medical necessity (staff API, clinical roles only)."""

from __future__ import annotations

import datetime as dt

import msgspec


class FrequencyIn(msgspec.Struct, forbid_unknown_fields=True):
    """`{freq: weekly|daily|monthly, interval: 1, weekdays: ["TU"]}`: "twice weekly" is two weekdays,
    "every 2 weeks" is interval 2."""

    freq: str
    interval: int = 1
    weekdays: list[str] = msgspec.field(default_factory=list)


class FrequencyOut(msgspec.Struct):
    freq: str
    interval: int
    weekdays: list[str]


class LmnIn(msgspec.Struct, forbid_unknown_fields=True):
    issuer_name: str
    signed_on: dt.date
    expires_on: dt.date
    issuer_credential: str = ""
    issuer_npi: str | None = None
    issuer_address: str = ""
    condition: str = ""
    frequency: str = ""


class LmnOut(msgspec.Struct):
    id: str
    issuer_name: str
    issuer_credential: str
    issuer_npi: str | None
    issuer_address: str
    signed_on: dt.date
    expires_on: dt.date
    condition: str
    frequency: str


class PlanCreate(msgspec.Struct, forbid_unknown_fields=True):
    client_id: str
    therapist_id: str
    service_id: str
    diagnosis_codes: list[str]
    frequency: FrequencyIn
    # Local wall time in the practice's zone, "YYYY-MM-DDTHH:MM", without a UTC offset.
    first_start: str
    goals: list[str] = msgspec.field(default_factory=list)
    sessions: int | None = None
    until: dt.date | None = None
    reassess_every: int | None = None
    reassessment_service_id: str | None = None
    techniques: list[str] = msgspec.field(default_factory=list)
    home_care: str = ""
    lmn: LmnIn | None = None


class PlanUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Adjust a plan: any member given replaces the plan's. Give `sessions` or `until` to change how it ends."""

    frequency: FrequencyIn | msgspec.UnsetType = msgspec.UNSET
    sessions: int | msgspec.UnsetType | None = msgspec.UNSET
    until: dt.date | msgspec.UnsetType | None = msgspec.UNSET
    first_start: str | msgspec.UnsetType = msgspec.UNSET
    reassess_every: int | msgspec.UnsetType | None = msgspec.UNSET
    diagnosis_codes: list[str] | msgspec.UnsetType = msgspec.UNSET
    goals: list[str] | msgspec.UnsetType = msgspec.UNSET
    techniques: list[str] | msgspec.UnsetType = msgspec.UNSET
    home_care: str | msgspec.UnsetType = msgspec.UNSET
    status: str | msgspec.UnsetType = msgspec.UNSET
    lmn: LmnIn | msgspec.UnsetType = msgspec.UNSET


class PlanOut(msgspec.Struct):
    id: str
    client_id: str
    therapist_id: str
    service_id: str
    reassessment_service_id: str | None
    diagnosis_codes: list[str]
    goals: list[str]
    techniques: list[str]
    frequency: FrequencyOut
    sessions: int | None
    until: dt.date | None
    first_start: str
    timezone: str
    reassess_every: int | None
    home_care: str
    status: str
    lmn: LmnOut | None
    series_ids: list[str]
    created_at: dt.datetime


class PlanList(msgspec.Struct):
    items: list[PlanOut]
