"""HTTP for calendar feeds: staff issue and revoke subscription URLs; calendar apps fetch `/feeds/<token>.ics`."""

from __future__ import annotations

import datetime as dt
import uuid
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from litestar import Controller, Request, Response, delete, get, head, post
from litestar.di import Provide
from litestar.params import FromPath

from scheduler.auth import api_staff
from scheduler.deps import AppSettings, CurrentStaff, DbSession, PathPractice
from scheduler.feeds.models import FeedOwnerKind
from scheduler.feeds.schemas import FeedTokenIssued
from scheduler.feeds.services import BuiltFeed, current_feed
from scheduler.feeds.tokens import (
    check_may_manage,
    feed_url,
    issue_feed_token,
    revoke_feed_tokens,
    webcal_url,
)
from scheduler.openapi import PUBLIC_READ_PROBLEMS, STAFF_SECURITY, STAFF_WRITE_PROBLEMS
from scheduler.practice.deps import provide_staff_practice
from scheduler.practice.models import Practice, StaffUser
from scheduler.validation import parse_uuid

FEED_MEDIA_TYPE = "text/calendar"  # Litestar adds "; charset=utf-8" to text types


def _owner(staff: StaffUser, kind: FeedOwnerKind, owner_id: str) -> uuid.UUID:
    parsed = parse_uuid(owner_id, f"{kind.value}_id")
    check_may_manage(staff, kind, parsed)
    return parsed


async def _issue(
    db_session: DbSession, staff: StaffUser, practice: Practice, base_url: str, kind: FeedOwnerKind, owner_id: str
) -> FeedTokenIssued:
    plain = await issue_feed_token(db_session, practice, kind, _owner(staff, kind, owner_id))
    url = feed_url(base_url, plain)
    return FeedTokenIssued(url=url, webcal_url=webcal_url(url))


async def _revoke(
    db_session: DbSession, staff: StaffUser, practice: Practice, kind: FeedOwnerKind, owner_id: str
) -> None:
    await revoke_feed_tokens(db_session, practice, kind, _owner(staff, kind, owner_id))


class FeedTokenController(Controller):
    """Subscription URLs for a therapist's, a client's or a room's calendar. Issuing one retires the previous."""

    path = "/api/v1"
    tags = ["calendar feeds"]
    dependencies = {"staff": Provide(api_staff()), "practice": Provide(provide_staff_practice)}
    security = STAFF_SECURITY

    @post(
        "/therapists/{therapist_id:str}/feed-token",
        operation_id="issueTherapistFeedToken",
        status_code=201,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def issue_therapist(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        therapist_id: FromPath[str],
    ) -> FeedTokenIssued:
        return await _issue(db_session, staff, practice, settings.base_url, FeedOwnerKind.THERAPIST, therapist_id)

    @delete(
        "/therapists/{therapist_id:str}/feed-token",
        operation_id="revokeTherapistFeedToken",
        status_code=204,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def revoke_therapist(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, therapist_id: FromPath[str]
    ) -> None:
        await _revoke(db_session, staff, practice, FeedOwnerKind.THERAPIST, therapist_id)

    @post(
        "/clients/{client_id:str}/feed-token",
        operation_id="issueClientFeedToken",
        status_code=201,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def issue_client(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        client_id: FromPath[str],
    ) -> FeedTokenIssued:
        return await _issue(db_session, staff, practice, settings.base_url, FeedOwnerKind.CLIENT, client_id)

    @delete(
        "/clients/{client_id:str}/feed-token",
        operation_id="revokeClientFeedToken",
        status_code=204,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def revoke_client(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, client_id: FromPath[str]
    ) -> None:
        await _revoke(db_session, staff, practice, FeedOwnerKind.CLIENT, client_id)

    @post(
        "/rooms/{room_id:str}/feed-token",
        operation_id="issueRoomFeedToken",
        status_code=201,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def issue_room(
        self,
        db_session: DbSession,
        staff: CurrentStaff,
        practice: PathPractice,
        settings: AppSettings,
        room_id: FromPath[str],
    ) -> FeedTokenIssued:
        return await _issue(db_session, staff, practice, settings.base_url, FeedOwnerKind.ROOM, room_id)

    @delete(
        "/rooms/{room_id:str}/feed-token",
        operation_id="revokeRoomFeedToken",
        status_code=204,
        responses=STAFF_WRITE_PROBLEMS,
    )
    async def revoke_room(
        self, db_session: DbSession, staff: CurrentStaff, practice: PathPractice, room_id: FromPath[str]
    ) -> None:
        await _revoke(db_session, staff, practice, FeedOwnerKind.ROOM, room_id)


def _not_modified(request: Request[Any, Any, Any], feed: BuiltFeed) -> bool:
    """RFC 9110 conditional GET: If-None-Match wins; If-Modified-Since only without it."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or feed.etag in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        return feed.last_modified <= since
    return False


def _token(filename: str) -> str:
    return filename.removesuffix(".ics") if filename.endswith(".ics") else ""


def _validators(feed: BuiltFeed) -> dict[str, str]:
    return {
        "ETag": feed.etag,
        "Last-Modified": format_datetime(feed.last_modified, usegmt=True),
        "Cache-Control": "private, max-age=0, must-revalidate",
    }


class FeedController(Controller):
    """What Google, Microsoft and Apple poll: the token in the URL is the only credential."""

    path = "/feeds"
    tags = ["calendar feeds"]

    @get(
        "/{filename:str}",
        operation_id="getCalendarFeed",
        summary="A calendar feed (`/feeds/<token>.ics`)",
        media_type=FEED_MEDIA_TYPE,
        responses=PUBLIC_READ_PROBLEMS,
    )
    async def feed(
        self, request: Request[Any, Any, Any], db_session: DbSession, filename: FromPath[str]
    ) -> Response[bytes]:
        feed = await current_feed(db_session, _token(filename))
        if _not_modified(request, feed):
            return Response(b"", status_code=304, headers=_validators(feed), media_type=FEED_MEDIA_TYPE)
        return Response(feed.body, media_type=FEED_MEDIA_TYPE, headers=_validators(feed))

    @head(
        "/{filename:str}",
        operation_id="headCalendarFeed",
        summary="A calendar feed's validators (ETag, Last-Modified, length) without its body",
        media_type=FEED_MEDIA_TYPE,
        responses=PUBLIC_READ_PROBLEMS,
    )
    async def feed_head(
        self, request: Request[Any, Any, Any], db_session: DbSession, filename: FromPath[str]
    ) -> Response[None]:
        """What a GET would answer, headers only: some subscription checks ask HEAD before they GET."""
        feed = await current_feed(db_session, _token(filename))
        if _not_modified(request, feed):
            return Response(None, status_code=304, headers=_validators(feed), media_type=FEED_MEDIA_TYPE)
        length = {"Content-Length": str(len(feed.body))}
        return Response(None, media_type=FEED_MEDIA_TYPE, headers=_validators(feed) | length)
