"""Owner pages for practice set-up: therapists (details, services, weekly hours, time off, extra hours),
rooms, services and the booking policy.

Forms post, the same use cases as the API run (`scheduler.practice.setup`), and success redirects
(post/redirect/get). A refused form is shown again with what was typed and the error by the field;
its response is a 4xx, so the request's transaction rolls back and nothing is half-written.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from scheduler.auth import page_staff
from scheduler.deps import CurrentStaff, DbSession
from scheduler.errors import AppointmentsInTheWay
from scheduler.format import format_clock, format_weekday_date, format_weekday_when
from scheduler.practice import rules, services, setup
from scheduler.practice.models import Practice, Role, StaffUser
from scheduler.practice.schemas import RoomUpdate, ServiceUpdate, TherapistUpdate
from scheduler.validation import parse_uuid
from scheduler.web import setup_forms as forms

AnyRequest = Request[Any, Any, Any]
HOME = "/staff/setup"


def _saved(path: str) -> Redirect:
    return Redirect(path=f"{path}?saved=1", status_code=303)


class SetupPagesController(Controller):
    """The owner's set-up pages under /staff/setup."""

    path = HOME
    include_in_schema = False
    dependencies = {"staff": Provide(page_staff(Role.OWNER))}

    @staticmethod
    async def _page(
        db_session: DbSession, staff: StaffUser, template: str, status_code: int = 200, **context: Any
    ) -> Template:
        practice = await db_session.get_one(Practice, staff.practice_id)
        context.setdefault("error", None)
        context.setdefault("values", {})
        return Template(
            template_name=f"staff/setup/{template}",
            context={"practice": practice, "user": staff, **context},
            status_code=status_code,
        )

    @get("/", name="setup_home")
    async def overview(self, db_session: DbSession, staff: CurrentStaff, saved: FromQuery[str] = "") -> Template:
        return await self._overview(db_session, staff, saved=bool(saved))

    async def _overview(
        self, db_session: DbSession, staff: StaffUser, status_code: int = 200, **context: Any
    ) -> Template:
        practice = await db_session.get_one(Practice, staff.practice_id)
        service_rows = await setup.list_services(db_session, include_inactive=True)
        # The identifiers form is the only form on this page: its values are the page's `values`.
        context.setdefault("values", {"ein": practice.ein, "npi": practice.npi or ""})
        return await self._page(
            db_session,
            staff,
            "index.html",
            status_code=status_code,
            therapists=await services.list_therapists(db_session, include_inactive=True),
            rooms=await services.list_rooms(db_session, include_inactive=True),
            services=[
                {"service": s, "price": rules.format_price(s.price, practice.currency), "room_count": len(rooms)}
                for s, rooms in service_rows
            ],
            service_names={s.id: s.name for s, _ in service_rows},
            **context,
        )

    # --- therapists -------------------------------------------------------------------------------

    async def _therapist_page(
        self, db_session: DbSession, staff: StaffUser, therapist_id: str | None, status_code: int = 200, **context: Any
    ) -> Template:
        context.setdefault("is_active", True)
        return await self._page(
            db_session,
            staff,
            "therapist.html",
            status_code=status_code,
            therapist_id=therapist_id,
            all_services=await services.list_services(db_session, public=False, include_inactive=True),
            **context,
        )

    async def _refused_therapist(
        self,
        db_session: DbSession,
        staff: StaffUser,
        therapist_id: str | None,
        form: forms.Form,
        error: forms.FormError,
        hour_inputs: list[str],
    ) -> Template:
        return await self._therapist_page(
            db_session,
            staff,
            therapist_id,
            status_code=error.status,
            values=forms.values(form, forms.THERAPIST_FIELDS),
            selected=set(forms.ids(form, "service_ids")),
            grid=forms.hours_grid_from_form(form),
            error=forms.form_error(error, hour_inputs),
        )

    @get("/therapists/new")
    async def new_therapist(self, db_session: DbSession, staff: CurrentStaff) -> Template:
        return await self._therapist_page(db_session, staff, None, selected=set(), grid=forms.hours_grid([]))

    @post("/therapists/new", status_code=303)
    async def create_therapist(
        self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff
    ) -> Template | Redirect:
        form = await request.form()
        hour_inputs: list[str] = []
        try:
            week, hour_inputs = forms.week(form)
            therapist, _ = await setup.create_therapist(db_session, forms.therapist_from_form(form))
            await setup.replace_weekly_hours(db_session, therapist.id, week)
        except forms.FORM_ERRORS as exc:
            return await self._refused_therapist(db_session, staff, None, form, exc, hour_inputs)
        return _saved(f"{HOME}/therapists/{therapist.id}")

    @get("/therapists/{therapist_id:str}")
    async def edit_therapist(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str], saved: FromQuery[str] = ""
    ) -> Template:
        return await self._saved_therapist_page(db_session, staff, therapist_id, saved=bool(saved))

    async def _saved_therapist_page(
        self, db_session: DbSession, staff: StaffUser, therapist_id: str, status_code: int = 200, **context: Any
    ) -> Template:
        therapist, service_ids = await services.get_therapist(db_session, parse_uuid(therapist_id, "therapist_id"))
        return await self._therapist_page(
            db_session,
            staff,
            str(therapist.id),
            status_code=status_code,
            values=forms.therapist_values(therapist),
            selected={str(s) for s in service_ids},
            grid=forms.hours_grid_of(await setup.get_weekly_hours(db_session, therapist.id)),
            is_active=therapist.is_active,
            **context,
        )

    @post("/therapists/{therapist_id:str}", status_code=303)
    async def update_therapist(
        self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str]
    ) -> Template | Redirect:
        the_id = parse_uuid(therapist_id, "therapist_id")
        form = await request.form()
        hour_inputs: list[str] = []
        try:
            week, hour_inputs = forms.week(form)
            data = forms.as_update(forms.therapist_from_form(form), TherapistUpdate)
            await setup.update_therapist(db_session, the_id, data)
            await setup.replace_weekly_hours(db_session, the_id, week)
        except forms.FORM_ERRORS as exc:
            return await self._refused_therapist(db_session, staff, therapist_id, form, exc, hour_inputs)
        return _saved(f"{HOME}/therapists/{the_id}")

    @post("/therapists/{therapist_id:str}/active", status_code=303)
    async def set_therapist_active(
        self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str]
    ) -> Template | Redirect:
        form = await request.form()
        try:
            await setup.update_therapist(
                db_session,
                parse_uuid(therapist_id, "therapist_id"),
                TherapistUpdate(is_active=forms.checked(form, "active")),
                keep_appointments=forms.checked(form, "keep_appointments"),
            )
        except AppointmentsInTheWay as exc:
            return await self._saved_therapist_page(
                db_session, staff, therapist_id, status_code=exc.status, error=forms.form_error(exc)
            )
        return _saved(HOME)

    # --- time off and extra hours -----------------------------------------------------------------

    async def _absences_page(
        self, db_session: DbSession, staff: StaffUser, therapist_id: str, status_code: int = 200, **context: Any
    ) -> Template:
        practice = await db_session.get_one(Practice, staff.practice_id)
        zone = ZoneInfo(practice.timezone)
        therapist, _ = await services.get_therapist(db_session, parse_uuid(therapist_id, "therapist_id"))

        time_off = [
            {
                "row": row,
                "start": format_weekday_when(row.start_at, zone),
                "end": format_weekday_when(row.end_at, zone),
                # Saved with keep_appointments: visits the desk still has to move.
                "still_booked": forms.visits_shown(await setup.visits_in_time_off(db_session, row)),
            }
            for row in await setup.list_time_off(db_session, therapist.id)
        ]
        extra = [
            {
                "row": row,
                "day": format_weekday_date(row.day),
                "start": format_clock(row.start_time),
                "end": format_clock(row.end_time),
            }
            for row in await setup.list_extra_hours(db_session, therapist.id)
        ]
        return await self._page(
            db_session,
            staff,
            "time_off.html",
            status_code=status_code,
            therapist=therapist,
            time_off=time_off,
            extra=extra,
            **context,
        )

    @get("/therapists/{therapist_id:str}/time-off")
    async def absences(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str], saved: FromQuery[str] = ""
    ) -> Template:
        return await self._absences_page(db_session, staff, therapist_id, saved=bool(saved))

    @post("/therapists/{therapist_id:str}/time-off", status_code=303)
    async def add_time_off(
        self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str]
    ) -> Template | Redirect:
        the_id = parse_uuid(therapist_id, "therapist_id")
        practice = await db_session.get_one(Practice, staff.practice_id)
        form = await request.form()
        try:
            await setup.add_time_off(db_session, the_id, forms.time_off_from_form(form, practice))
        except forms.FORM_ERRORS as exc:
            return await self._absences_page(
                db_session,
                staff,
                therapist_id,
                status_code=exc.status,
                error=forms.form_error(exc, rename={"start": "start_day", "end": "end_day"}),
                error_form="time_off",
                values=forms.values(form, forms.TIME_OFF_FIELDS),
            )
        return _saved(f"{HOME}/therapists/{the_id}/time-off")

    @post("/therapists/{therapist_id:str}/time-off/{time_off_id:str}/delete", status_code=303)
    async def remove_time_off(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str], time_off_id: FromPath[str]
    ) -> Redirect:
        the_id = parse_uuid(therapist_id, "therapist_id")
        await setup.remove_time_off(db_session, the_id, parse_uuid(time_off_id, "time_off_id"))
        return _saved(f"{HOME}/therapists/{the_id}/time-off")

    @post("/therapists/{therapist_id:str}/extra-hours", status_code=303)
    async def add_extra_hours(
        self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str]
    ) -> Template | Redirect:
        the_id = parse_uuid(therapist_id, "therapist_id")
        form = await request.form()
        try:
            await setup.add_extra_hours(db_session, the_id, forms.extra_hours_from_form(form))
        except forms.FORM_ERRORS as exc:
            return await self._absences_page(
                db_session,
                staff,
                therapist_id,
                status_code=exc.status,
                error=forms.form_error(exc, rename={n: f"extra_{n}" for n in ("day", "start", "end")}),
                error_form="extra",
                values=forms.values(form, forms.EXTRA_FIELDS),
            )
        return _saved(f"{HOME}/therapists/{the_id}/time-off")

    @post("/therapists/{therapist_id:str}/extra-hours/{extra_id:str}/delete", status_code=303)
    async def remove_extra_hours(
        self, db_session: DbSession, staff: CurrentStaff, therapist_id: FromPath[str], extra_id: FromPath[str]
    ) -> Redirect:
        the_id = parse_uuid(therapist_id, "therapist_id")
        await setup.remove_extra_hours(db_session, the_id, parse_uuid(extra_id, "extra_id"))
        return _saved(f"{HOME}/therapists/{the_id}/time-off")

    # --- rooms ------------------------------------------------------------------------------------

    @get("/rooms/new")
    async def new_room(self, db_session: DbSession, staff: CurrentStaff) -> Template:
        return await self._page(db_session, staff, "room.html", room_id=None, is_active=True)

    @post("/rooms/new", status_code=303)
    async def create_room(self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff) -> Template | Redirect:
        form = await request.form()
        try:
            room = await setup.create_room(db_session, forms.room_from_form(form))
        except forms.FORM_ERRORS as exc:
            return await self._page(
                db_session,
                staff,
                "room.html",
                status_code=exc.status,
                room_id=None,
                is_active=True,
                values=forms.values(form, ("name",)),
                error=forms.form_error(exc),
            )
        return _saved(f"{HOME}/rooms/{room.id}")

    @get("/rooms/{room_id:str}")
    async def edit_room(
        self, db_session: DbSession, staff: CurrentStaff, room_id: FromPath[str], saved: FromQuery[str] = ""
    ) -> Template:
        room = await services.get_room(db_session, parse_uuid(room_id, "room_id"))
        return await self._page(
            db_session,
            staff,
            "room.html",
            room_id=str(room.id),
            values={"name": room.name},
            is_active=room.is_active,
            saved=bool(saved),
        )

    @post("/rooms/{room_id:str}", status_code=303)
    async def update_room(
        self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff, room_id: FromPath[str]
    ) -> Template | Redirect:
        the_id = parse_uuid(room_id, "room_id")
        form = await request.form()
        try:
            room = await setup.update_room(db_session, the_id, RoomUpdate(name=forms.room_from_form(form).name))
        except forms.FORM_ERRORS as exc:
            return await self._page(
                db_session,
                staff,
                "room.html",
                status_code=exc.status,
                room_id=room_id,
                is_active=True,
                values=forms.values(form, ("name",)),
                error=forms.form_error(exc),
            )
        return _saved(f"{HOME}/rooms/{room.id}")

    @post("/rooms/{room_id:str}/active", status_code=303)
    async def set_room_active(
        self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff, room_id: FromPath[str]
    ) -> Template | Redirect:
        form = await request.form()
        the_id = parse_uuid(room_id, "room_id")
        try:
            await setup.update_room(
                db_session,
                the_id,
                RoomUpdate(is_active=forms.checked(form, "active")),
                keep_appointments=forms.checked(form, "keep_appointments"),
            )
        except AppointmentsInTheWay as exc:
            room = await services.get_room(db_session, the_id)
            return await self._page(
                db_session,
                staff,
                "room.html",
                status_code=exc.status,
                room_id=str(room.id),
                values={"name": room.name},
                is_active=room.is_active,
                error=forms.form_error(exc),
            )
        return _saved(HOME)

    # --- services ---------------------------------------------------------------------------------

    async def _service_page(
        self, db_session: DbSession, staff: StaffUser, service_id: str | None, status_code: int = 200, **context: Any
    ) -> Template:
        context.setdefault("is_active", True)
        return await self._page(
            db_session,
            staff,
            "service.html",
            status_code=status_code,
            service_id=service_id,
            all_rooms=await services.list_rooms(db_session, include_inactive=True),
            **context,
        )

    async def _refused_service(
        self, db_session: DbSession, staff: StaffUser, service_id: str | None, form: forms.Form, error: forms.FormError
    ) -> Template:
        return await self._service_page(
            db_session,
            staff,
            service_id,
            status_code=error.status,
            values=forms.service_values_from_form(form),
            selected=set(forms.ids(form, "room_ids")),
            error=forms.form_error(error),
        )

    @get("/services/new")
    async def new_service(self, db_session: DbSession, staff: CurrentStaff) -> Template:
        return await self._service_page(db_session, staff, None, values=forms.NEW_SERVICE_VALUES, selected=set())

    @post("/services/new", status_code=303)
    async def create_service(
        self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff
    ) -> Template | Redirect:
        practice = await db_session.get_one(Practice, staff.practice_id)
        form = await request.form()
        try:
            service, _ = await setup.create_service(db_session, forms.service_from_form(form, practice.currency))
        except forms.FORM_ERRORS as exc:
            return await self._refused_service(db_session, staff, None, form, exc)
        return _saved(f"{HOME}/services/{service.id}")

    @get("/services/{service_id:str}")
    async def edit_service(
        self, db_session: DbSession, staff: CurrentStaff, service_id: FromPath[str], saved: FromQuery[str] = ""
    ) -> Template:
        practice = await db_session.get_one(Practice, staff.practice_id)
        service, room_ids = await setup.get_service(db_session, parse_uuid(service_id, "service_id"))
        return await self._service_page(
            db_session,
            staff,
            str(service.id),
            values=forms.service_values(service, practice.currency),
            selected={str(r) for r in room_ids},
            saved=bool(saved),
            is_active=service.is_active,
        )

    @post("/services/{service_id:str}", status_code=303)
    async def update_service(
        self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff, service_id: FromPath[str]
    ) -> Template | Redirect:
        practice = await db_session.get_one(Practice, staff.practice_id)
        the_id = parse_uuid(service_id, "service_id")
        form = await request.form()
        try:
            data = forms.as_update(forms.service_from_form(form, practice.currency), ServiceUpdate)
            service, _ = await setup.update_service(db_session, the_id, data)
        except forms.FORM_ERRORS as exc:
            return await self._refused_service(db_session, staff, service_id, form, exc)
        return _saved(f"{HOME}/services/{service.id}")

    @post("/services/{service_id:str}/active", status_code=303)
    async def set_service_active(
        self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff, service_id: FromPath[str]
    ) -> Redirect:
        active = forms.checked(await request.form(), "active")
        await setup.update_service(db_session, parse_uuid(service_id, "service_id"), ServiceUpdate(is_active=active))
        return _saved(HOME)

    # --- booking policy ---------------------------------------------------------------------------

    async def _policy_page(
        self, db_session: DbSession, staff: StaffUser, status_code: int = 200, **context: Any
    ) -> Template:
        return await self._page(
            db_session,
            staff,
            "policy.html",
            status_code=status_code,
            granularities=rules.SLOT_GRANULARITIES,
            bounds={
                "min_notice_minutes": rules.MIN_NOTICE_MINUTES,
                "horizon_days": rules.HORIZON_DAYS,
                "cancellation_window_hours": rules.CANCELLATION_WINDOW_HOURS,
            },
            **context,
        )

    @post("/identifiers", status_code=303)
    async def update_identifiers(
        self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff
    ) -> Template | Redirect:
        """The practice's EIN and NPI (receipts, superbills): a refused value shows the page again with why."""
        form = await request.form()
        practice = await db_session.get_one(Practice, staff.practice_id)
        try:
            await services.set_billing_identifiers(
                db_session, practice, ein=str(form.get("ein", "")), npi=str(form.get("npi", ""))
            )
        except forms.FORM_ERRORS as exc:
            return await self._overview(
                db_session,
                staff,
                status_code=exc.status,
                values={"ein": str(form.get("ein", "")), "npi": str(form.get("npi", ""))},
                error=forms.form_error(exc),
            )
        return _saved(HOME)

    @get("/policy")
    async def policy(self, db_session: DbSession, staff: CurrentStaff, saved: FromQuery[str] = "") -> Template:
        practice = await db_session.get_one(Practice, staff.practice_id)
        return await self._policy_page(db_session, staff, values=forms.policy_values(practice), saved=bool(saved))

    @post("/policy", status_code=303)
    async def update_policy(
        self, request: AnyRequest, db_session: DbSession, staff: CurrentStaff
    ) -> Template | Redirect:
        form = await request.form()
        try:
            await setup.update_policy(db_session, staff.practice_id, forms.policy_from_form(form))
        except forms.FORM_ERRORS as exc:
            return await self._policy_page(
                db_session,
                staff,
                status_code=exc.status,
                values=forms.values(form, forms.POLICY_FIELDS),
                error=forms.form_error(exc),
            )
        return _saved(f"{HOME}/policy")
