"""The API: one django-ninja application for both doors.

- the Wallbox-compatible paths at the site root (users/signin, v3/chargers/groups, …),
  so the `wallbox` client works with baseUrl = authUrl = this server;
- our own API under /api/v1/, with its OpenAPI schema at /api/v1/openapi.json and a
  browsable docs page at /api/v1/docs.

Every call authenticates with a Bearer token or the browser session (CSRF-checked),
and is rate-limited per address and per user.
"""

from __future__ import annotations

from ninja import NinjaAPI

from api import (
    errors,
    healing,
    maintenance,
    v1,
    v1_exports,
    v1_history,  # noqa: F401 - adds to v1
    wallbox,
)
from api.auth import BearerToken, Session
from api.throttling import AddressThrottle, UserThrottle

api = NinjaAPI(
    title="Fleet portal API",
    version="1",
    description=(
        "Wallbox-compatible calls for the `wallbox` client, and the portal's own fleet API. "
        "Authenticate with `GET /users/signin` (HTTP Basic) and send the token as "
        "`Authorization: Bearer …`, or call from a signed-in browser session."
    ),
    urls_namespace="api",
    openapi_url="api/v1/openapi.json",
    docs_url="api/v1/docs",
    auth=[BearerToken(), Session()],
    throttle=[AddressThrottle(), UserThrottle()],
)
errors.install(api)
api.add_router("", wallbox.router)
api.add_router("api/v1/", v1_exports.router)  # before v1: see v1_exports.py
api.add_router("api/v1/", v1.router)  # with v1_history's list of restarts on it
api.add_router("api/v1/", healing.router)
api.add_router("api/v1/", maintenance.router)
