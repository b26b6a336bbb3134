"""HTTP for clients (staff)."""

from __future__ import annotations

from litestar import Controller, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody

from scheduler.auth import api_staff
from scheduler.clients import services
from scheduler.clients.models import Client
from scheduler.clients.schemas import ClientIn, ClientList, ClientOut
from scheduler.clients.services import ClientDetails
from scheduler.deps import CurrentStaff, DbSession
from scheduler.openapi import STAFF_READ_PROBLEMS, STAFF_SECURITY, STAFF_WRITE_PROBLEMS
from scheduler.validation import parse_uuid


def client_out(client: Client) -> ClientOut:
    return ClientOut(
        id=str(client.id),
        first_name=client.first_name,
        last_name=client.last_name,
        email=client.email,
        phone=client.phone,
        date_of_birth=client.date_of_birth,
        address_line1=client.address_line1,
        address_line2=client.address_line2,
        city=client.city,
        region=client.region,
        postal_code=client.postal_code,
    )


def details_from(data: ClientIn) -> ClientDetails:
    fields = {f: getattr(data, f) for f in data.__struct_fields__ if f != "address"}
    if data.address is not None:
        fields.update(
            address_line1=data.address.line1,
            address_line2=data.address.line2,
            city=data.address.city,
            region=data.address.region,
            postal_code=data.address.postal_code,
        )
    return ClientDetails(**fields)


class ClientController(Controller):
    path = "/api/v1/clients"
    tags = ["clients"]
    dependencies = {"staff": Provide(api_staff())}
    security = STAFF_SECURITY

    @post(
        "/",
        operation_id="createClient",
        summary="Create a client (409 when the e-mail is known)",
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def create(self, db_session: DbSession, staff: CurrentStaff, data: JSONBody[ClientIn]) -> ClientOut:
        return client_out(await services.create_client(db_session, details_from(data)))

    @get(
        "/", operation_id="findClients", summary="Find clients by name, e-mail or phone", responses=STAFF_READ_PROBLEMS
    )
    async def find(self, db_session: DbSession, staff: CurrentStaff, q: FromQuery[str] = "") -> ClientList:
        return ClientList(items=[client_out(c) for c in await services.search_clients(db_session, q[:100])])

    @get("/{client_id:str}", operation_id="getClient", responses=STAFF_READ_PROBLEMS)
    async def get_one(self, db_session: DbSession, staff: CurrentStaff, client_id: FromPath[str]) -> ClientOut:
        return client_out(await services.get_client(db_session, parse_uuid(client_id, "client_id")))

    @patch("/{client_id:str}", operation_id="updateClient", responses=STAFF_WRITE_PROBLEMS)
    async def update(
        self, db_session: DbSession, staff: CurrentStaff, client_id: FromPath[str], data: JSONBody[ClientIn]
    ) -> ClientOut:
        client = await services.get_client(db_session, parse_uuid(client_id, "client_id"))
        return client_out(await services.update_client(db_session, client, details_from(data)))
