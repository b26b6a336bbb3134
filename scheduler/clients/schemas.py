"""msgspec shapes for clients."""

from __future__ import annotations

import datetime as dt

import msgspec


class AddressIn(msgspec.Struct, forbid_unknown_fields=True):
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""


class ClientIn(msgspec.Struct, forbid_unknown_fields=True):
    """A client. The postal address comes either as the flat `address_*` fields or as one `address` object
    (`{line1, line2, city, region, postal_code}`); the object wins where both are given."""

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
    address: AddressIn | None = None


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
