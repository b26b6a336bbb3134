"""HTTP for the practice: the public catalogue, the staff member's practice, users and tokens."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from scheduler.auth import api_staff
from scheduler.deps import CurrentStaff, DbSession, PathPractice
from scheduler.openapi import PUBLIC_READ_PROBLEMS, STAFF_READ_PROBLEMS, STAFF_SECURITY, STAFF_WRITE_PROBLEMS
from scheduler.practice import services
from scheduler.practice.deps import provide_public_practice
from scheduler.practice.models import ApiToken, Practice, Role, Room, Service, StaffUser, Therapist
from scheduler.practice.schemas import (
    PracticeOut,
    RoomOut,
    ServiceDetail,
    ServiceList,
    ServiceOut,
    TherapistDetail,
    TherapistList,
    TherapistOut,
    TokenCreate,
    TokenIssued,
    TokenList,
    TokenOut,
    UserCreate,
    UserList,
    UserOut,
)
from scheduler.validation import parse_uuid


def service_out(service: Service, currency: str) -> ServiceOut:
    return ServiceOut(
        id=str(service.id),
        name=service.name,
        description=service.description,
        duration_minutes=service.duration_minutes,
        price=service.price,
        currency=currency,
        cpt_code=service.cpt_code,
        fsa_eligible=service.fsa_eligible,
        bookable_online=service.bookable_online,
        buffer_before_minutes=service.buffer_before_minutes,
        buffer_after_minutes=service.buffer_after_minutes,
    )


def therapist_out(therapist: Therapist, service_ids: list[uuid.UUID]) -> TherapistOut:
    return TherapistOut(
        id=str(therapist.id),
        name=therapist.display_name,
        first_name=therapist.first_name,
        last_name=therapist.last_name,
        credential=therapist.credential,
        bio=therapist.bio,
        service_ids=[str(s) for s in service_ids],
    )


def service_detail(service: Service, room_ids: list[uuid.UUID], currency: str) -> ServiceDetail:
    base = service_out(service, currency)
    return ServiceDetail(
        **{f: getattr(base, f) for f in base.__struct_fields__},
        room_ids=[str(r) for r in room_ids],
        is_active=service.is_active,
    )


def therapist_detail(therapist: Therapist, service_ids: list[uuid.UUID]) -> TherapistDetail:
    base = therapist_out(therapist, service_ids)
    return TherapistDetail(
        **{f: getattr(base, f) for f in base.__struct_fields__},
        license_number=therapist.license_number,
        license_state=therapist.license_state,
        npi=therapist.npi,
        is_active=therapist.is_active,
    )


def room_out(room: Room) -> RoomOut:
    return RoomOut(id=str(room.id), name=room.name, is_active=room.is_active)


def user_out(user: StaffUser) -> UserOut:
    return UserOut(
        id=str(user.id),
        email=user.email,
        full_name=user.full_name,
        role=user.role.value,
        is_active=user.is_active,
        therapist_id=str(user.therapist_id) if user.therapist_id else None,
    )


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(id=str(token.id), prefix=token.prefix, label=token.label, revoked=token.revoked_at is not None)


class PublicCatalogueController(Controller):
    """What a client sees before booking: services and therapists of one practice."""

    path = "/api/v1/practices/{slug:str}"
    tags = ["public"]
    dependencies = {"practice": Provide(provide_public_practice)}

    @get(
        "/services",
        operation_id="listPublicServices",
        summary="Services bookable online",
        responses=PUBLIC_READ_PROBLEMS,
    )
    async def list_services(self, db_session: DbSession, practice: PathPractice) -> ServiceList:
        items = await services.list_services(db_session, public=True)
        return ServiceList(items=[service_out(s, practice.currency) for s in items])

    @get(
        "/therapists",
        operation_id="listPublicTherapists",
        summary="Therapists and the services they perform",
        responses=PUBLIC_READ_PROBLEMS,
    )
    async def list_therapists(self, db_session: DbSession, practice: PathPractice) -> TherapistList:
        rows = await services.list_therapists(db_session, public=True)
        return TherapistList(items=[therapist_out(t, ids) for t, ids in rows])


class StaffPracticeController(Controller):
    """The signed-in staff member's own practice (its therapists, rooms and services: `setup_controllers`)."""

    path = "/api/v1"
    tags = ["practice"]
    dependencies = {"staff": Provide(api_staff())}
    security = STAFF_SECURITY

    @get("/practice", operation_id="getPractice", responses=STAFF_READ_PROBLEMS)
    async def get_practice(self, db_session: DbSession, staff: CurrentStaff) -> PracticeOut:
        practice = await db_session.get_one(Practice, staff.practice_id)
        return PracticeOut(
            id=str(practice.id),
            slug=practice.slug,
            name=practice.name,
            legal_name=practice.legal_name,
            timezone=practice.timezone,
            currency=practice.currency,
            phone=practice.phone,
            address=practice.address_lines,
        )


class UserController(Controller):
    """Staff accounts. Only owners manage users."""

    path = "/api/v1/users"
    tags = ["users"]
    dependencies = {"staff": Provide(api_staff(Role.OWNER))}
    security = STAFF_SECURITY

    @get("/", operation_id="listUsers", responses=STAFF_READ_PROBLEMS)
    async def list_users(self, db_session: DbSession, staff: CurrentStaff) -> UserList:
        return UserList(items=[user_out(u) for u in await services.list_users(db_session)])

    @get("/{user_id:str}", operation_id="getUser", responses=STAFF_READ_PROBLEMS)
    async def get_user(self, db_session: DbSession, staff: CurrentStaff, user_id: FromPath[str]) -> UserOut:
        return user_out(await services.get_user(db_session, parse_uuid(user_id, "user_id")))

    @post("/", operation_id="createUser", responses=STAFF_WRITE_PROBLEMS)
    async def create_user(self, db_session: DbSession, staff: CurrentStaff, data: JSONBody[UserCreate]) -> UserOut:
        practice = await db_session.get_one(Practice, staff.practice_id)
        therapist_id = None
        if data.therapist_id is not None:
            therapist, _ = await services.get_therapist(db_session, parse_uuid(data.therapist_id, "therapist_id"))
            therapist_id = therapist.id
        user = await services.add_user(
            db_session,
            practice=practice,
            email=data.email,
            password=data.password,
            role=data.role,
            full_name=data.full_name,
            therapist_id=therapist_id,
        )
        return user_out(user)


class TokenController(Controller):
    """A staff member's own API tokens."""

    path = "/api/v1/tokens"
    tags = ["users"]
    dependencies = {"staff": Provide(api_staff())}
    security = STAFF_SECURITY

    @get("/", operation_id="listTokens", responses=STAFF_READ_PROBLEMS)
    async def list_tokens(self, db_session: DbSession, staff: CurrentStaff) -> TokenList:
        return TokenList(items=[token_out(t) for t in await services.list_tokens(db_session, staff)])

    @post("/", operation_id="createToken", responses=STAFF_WRITE_PROBLEMS)
    async def create_token(
        self, db_session: DbSession, staff: CurrentStaff, data: JSONBody[TokenCreate]
    ) -> TokenIssued:
        token, plain = await services.create_token(db_session, staff, label=data.label[:100])
        base = token_out(token)
        return TokenIssued(**{f: getattr(base, f) for f in base.__struct_fields__}, token=plain)

    @delete("/{token_id:str}", operation_id="revokeToken", status_code=204, responses=STAFF_WRITE_PROBLEMS)
    async def revoke_token(self, db_session: DbSession, staff: CurrentStaff, token_id: FromPath[str]) -> None:
        await services.revoke_token(db_session, parse_uuid(token_id, "token_id"), staff)
