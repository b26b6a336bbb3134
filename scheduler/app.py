"""The composition root: `create_app()` wires plugins, routers, templates and error mapping. Wiring only."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from advanced_alchemy.extensions.litestar.store import SQLAlchemyStore
from litestar import Litestar, Request
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.middleware.session import SessionMiddleware
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.static_files import create_static_files_router
from litestar.stores.registry import StoreRegistry
from litestar.template.config import TemplateConfig

from billing import wiring as billing_wiring
from billing.cli import stripe as stripe_cli
from billing.documents import wiring as documents_wiring
from billing.plugin import PaymentGatewayPlugin
from scheduler.auth import LOGIN_THROTTLE_STORE
from scheduler.booking.controllers import AppointmentController, PublicBookingController
from scheduler.booking.series_controllers import PlanSeriesController, SeriesController
from scheduler.clients.controllers import ClientController
from scheduler.clients.intake_controllers import IntakeController
from scheduler.db import StoreEntry, WebSession, build_alchemy_config
from scheduler.error_handlers import EXCEPTION_HANDLERS
from scheduler.feeds.controllers import FeedController, FeedTokenController
from scheduler.format import FILTERS
from scheduler.health import health
from scheduler.idempotency import EXCEPTION_HANDLERS as IDEMPOTENCY_HANDLERS
from scheduler.idempotency import claim_idempotency_key, store_idempotent_answers
from scheduler.logging import configure_logging, request_logging_middleware
from scheduler.mail.hooks import flush_outbox_after_response
from scheduler.openapi import STAFF_SECURITY_SCHEMES, StrictStructSchemaPlugin
from scheduler.plans.assessment_controllers import AssessmentController
from scheduler.plans.controllers import TreatmentPlanController
from scheduler.practice.controllers import (
    PublicCatalogueController,
    StaffPracticeController,
    TokenController,
    UserController,
)
from scheduler.practice.setup_controllers import (
    PolicyController,
    RoomController,
    ServiceController,
    TherapistController,
)
from scheduler.request_checks import check_request
from scheduler.routing import correct_options_allow
from scheduler.settings import STATIC_DIR, TEMPLATES_DIR, Settings, get_settings
from scheduler.transaction import end_transaction_before_session_save
from scheduler.web.booking_pages import BookingPagesController
from scheduler.web.client_pages import ClientPagesController
from scheduler.web.clinical import ClinicalPagesController
from scheduler.web.feed_pages import (
    ClientManageFeedPagesController,
    PortalFeedPagesController,
    StaffFeedPagesController,
)
from scheduler.web.intake import IntakePagesController
from scheduler.web.outbox import OutboxPagesController
from scheduler.web.portal import PORTAL_STORE, PortalPagesController
from scheduler.web.portal_plans import PortalPlansController
from scheduler.web.schedule import SchedulePagesController
from scheduler.web.session import RotatingSessionBackend
from scheduler.web.setup import SetupPagesController
from scheduler.web.staff import StaffPagesController

SESSION_COOKIE = "carebook_session"
CSRF_COOKIE = "carebook_csrf"
# Bearer-token APIs, signed webhooks and feed fetches carry no cookies, so CSRF does not apply there.
CSRF_EXEMPT = ["^/api/", "^/webhooks/", "^/feeds/"]
# Commands other packages add to `carebook` (scheduler/cli.py reads this list; scheduler never imports billing).
CLI_COMMANDS = [stripe_cli]
# No request body Carebook reads comes near this; anything larger is refused (413) before it is read.
MAX_BODY_BYTES = 1024 * 1024


async def after_response(request: Request[Any, Any, Any]) -> None:
    await billing_wiring.after_response(request)
    await flush_outbox_after_response(request)


def create_app(settings: Settings | None = None, **overrides: Any) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings.debug)
    alchemy = build_alchemy_config(settings)
    stores = StoreRegistry(
        stores={
            "rate_limit": SQLAlchemyStore(alchemy, model=StoreEntry, namespace="rate_limit"),
            LOGIN_THROTTLE_STORE: SQLAlchemyStore(alchemy, model=StoreEntry, namespace=LOGIN_THROTTLE_STORE),
            PORTAL_STORE: SQLAlchemyStore(alchemy, model=StoreEntry, namespace=PORTAL_STORE),
        }
    )
    payments = PaymentGatewayPlugin(settings)
    session_backend = RotatingSessionBackend(
        config=ServerSideSessionConfig(
            key=SESSION_COOKIE,
            max_age=settings.session_max_age_seconds,
            secure=settings.cookies_secure,
            httponly=True,
            samesite="lax",
            exclude=["^/api/", "^/feeds/", "^/webhooks/", "^/static/", "^/health", "^/schema"],
        ),
        alchemy_config=alchemy,
        model=WebSession,
    )
    app = Litestar(
        route_handlers=[
            health,
            PublicCatalogueController,
            StaffPracticeController,
            TherapistController,
            RoomController,
            ServiceController,
            PolicyController,
            UserController,
            TokenController,
            StaffPagesController,
            OutboxPagesController,
            PortalPagesController,
            PortalPlansController,
            SchedulePagesController,
            BookingPagesController,
            SetupPagesController,
            PublicBookingController,
            AppointmentController,
            ClientController,
            IntakeController,
            IntakePagesController,
            ClinicalPagesController,
            ClientPagesController,
            AssessmentController,
            FeedTokenController,
            FeedController,
            StaffFeedPagesController,
            ClientManageFeedPagesController,
            PortalFeedPagesController,
            TreatmentPlanController,
            PlanSeriesController,
            SeriesController,
            *billing_wiring.install(settings, payments.gateway),
            *documents_wiring.install(),
            create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False),
        ],
        plugins=[
            SQLAlchemyPlugin(config=alchemy),
            ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=False)),
            StrictStructSchemaPlugin(),
            payments,
        ],
        dependencies={
            "settings": Provide(lambda: settings, sync_to_thread=False),
            # Claimed only by the handlers that name `idempotency: Idempotency` (bookings, appointments, payments).
            "idempotency": Provide(claim_idempotency_key),
        },
        middleware=[
            request_logging_middleware,
            DefineMiddleware(SessionMiddleware, backend=session_backend),
            end_transaction_before_session_save(alchemy),
            # Inside the transaction's end, so an idempotent answer is stored before the commit.
            store_idempotent_answers,
        ],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name=CSRF_COOKIE,
            cookie_secure=settings.cookies_secure,
            cookie_httponly=True,
            exclude=CSRF_EXEMPT,
        ),
        stores=stores,
        template_config=TemplateConfig(
            directory=TEMPLATES_DIR,
            engine=JinjaTemplateEngine,
            # Pages format dates and times through scheduler.format, never strftime.
            engine_callback=lambda engine: engine.engine.filters.update(FILTERS),
        ),
        openapi_config=OpenAPIConfig(
            title="Carebook API",
            version="1",
            description="Booking and billing for therapeutic massage practices.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
            components=Components(security_schemes=STAFF_SECURITY_SCHEMES),
        ),
        request_max_body_size=MAX_BODY_BYTES,
        # Undecodable text, NUL characters and non-JSON bodies are refused before any handler reads them.
        before_request=check_request,
        exception_handlers={**EXCEPTION_HANDLERS, **IDEMPOTENCY_HANDLERS},
        # The outbox is flushed, and refunds written by a cancellation sent, after the response (and the commit),
        # never inside the request.
        after_response=after_response,
        debug=settings.debug,
        **overrides,
    )
    correct_options_allow(app)
    app.state.settings = settings
    app.state.alchemy = alchemy
    return app
