"""msgspec shapes for practice set-up as the API shows it."""

from __future__ import annotations

import msgspec


class ServiceOut(msgspec.Struct):
    id: str
    name: str
    description: str
    duration_minutes: int
    price: int
    currency: str
    cpt_code: str | None
    fsa_eligible: bool
    bookable_online: bool
    buffer_before_minutes: int
    buffer_after_minutes: int


class ServiceList(msgspec.Struct):
    items: list[ServiceOut]


class TherapistOut(msgspec.Struct):
    id: str
    name: str
    first_name: str
    last_name: str
    credential: str
    bio: str
    service_ids: list[str]


class TherapistList(msgspec.Struct):
    items: list[TherapistOut]


class TherapistDetail(TherapistOut):
    license_number: str
    license_state: str
    npi: str | None


class RoomOut(msgspec.Struct):
    id: str
    name: str


class RoomList(msgspec.Struct):
    items: list[RoomOut]


class PracticeOut(msgspec.Struct):
    id: str
    slug: str
    name: str
    legal_name: str
    timezone: str
    currency: str
    phone: str
    address: list[str]


class UserOut(msgspec.Struct):
    id: str
    email: str
    full_name: str
    role: str
    is_active: bool
    therapist_id: str | None


class UserList(msgspec.Struct):
    items: list[UserOut]


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: str = msgspec.field()
    password: str = msgspec.field()
    role: str = msgspec.field()
    full_name: str = ""
    therapist_id: str | None = None


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    label: str = ""


class TokenOut(msgspec.Struct):
    id: str
    prefix: str
    label: str
    revoked: bool


class TokenIssued(TokenOut):
    token: str


class TokenList(msgspec.Struct):
    items: list[TokenOut]
