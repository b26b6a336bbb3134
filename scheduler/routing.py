"""Work-arounds for the router of Litestar 2.

`correct_options_allow(app)`: Litestar 2 answers `OPTIONS` with an `Allow` header that lists only the methods
of the first handler registered for a path (litestar-org/litestar#4169, fixed in Litestar 3): the automatic
OPTIONS handler keeps a reference to the route object that existed when it was made, and a path served by
several handlers (GET and POST on one collection) gets a new route object as each handler is added. This
rewrites that header from the route as finally built. Remove it with the move to Litestar 3.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope


def correct_options_allow(app: Litestar) -> None:
    allow: dict[int, str] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute) and "OPTIONS" in route.route_handler_map:
            handler, _ = route.route_handler_map["OPTIONS"]
            allow[id(handler)] = ", ".join(sorted(route.methods))

    async def rewrite_allow(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
            return
        methods = allow.get(id(scope.get("route_handler")))
        if methods is not None:
            MutableScopeHeaders.from_message(message)["Allow"] = methods

    app.before_send.append(rewrite_allow)
