"""msgspec shapes for clients."""

from __future__ import annotations

import datetime as dt

import msgspec


class ClientIn(msgspec.Struct, forbid_unknown_fields=True):
    first_name: str
    last_name: str
    email: str
    phone: str = ""
    date_of_birth: dt.date | None = None
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""


class ClientOut(msgspec.Struct):
    id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    date_of_birth: dt.date | None
    address_line1: str
    address_line2: str
    city: str
    region: str
    postal_code: str


class ClientList(msgspec.Struct):
    items: list[ClientOut]
