"""Feed API bodies."""

from __future__ import annotations

import msgspec


class FeedTokenIssued(msgspec.Struct, kw_only=True):
    """A new subscription URL. The token in it is shown only now; the previous URL has stopped working."""

    url: str  # https (or http in development): `<base>/feeds/<token>.ics`
    webcal_url: str  # the same feed as `webcal://…`, which calendar apps open as a subscription
