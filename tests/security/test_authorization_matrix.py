"""Who may reach every view and endpoint, generated from one table.

Every named URL of the project must have a row in ROWS (or be listed in
PUBLIC); a new view without a row fails `test_every_url_has_a_row`. A row says
which policy guards the view and how to build its URL for a target:

- policy "public": anyone, logged in or not;
- "login": any logged-in user;
- "see": members of the target's group or an ancestor (any role);
- "manage": admins and super-admins of the target's group or an ancestor;
- "tree": super-admins of the target's group or an ancestor.

Roles: anonymous, plain user (user of A), admin of another organisation,
admin of a sibling group (B), group admin (admin of A), super-admin (of the
root). Targets: "own" (an object in A), "sub" (in A1, below A) and "other" (in
another organisation). A refused request must be refused the way the policy
promises: anonymous → redirect to login (or 401 for an API), no access to an
object → 404 exactly as if it did not exist, no right to act → 403/404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tenancy.models import Membership
from tests.factories import make_charger, make_member, make_user

Role = Membership.Role
ROLES = [
    "anonymous",
    "plain_user",
    "other_org_admin",
    "sibling_admin",
    "group_admin",
    "super_admin",
]
TARGETS = ["own", "sub", "other"]

# Who passes each policy, per target.
POLICY = {
    "public": {t: set(ROLES) for t in TARGETS},
    "login": {t: set(ROLES) - {"anonymous"} for t in TARGETS},
    "see": {
        "own": {"plain_user", "group_admin", "super_admin"},
        "sub": {"plain_user", "group_admin", "super_admin"},
        "other": {"other_org_admin"},
    },
    "manage": {
        "own": {"group_admin", "super_admin"},
        "sub": {"group_admin", "super_admin"},
        "other": {"other_org_admin"},
    },
    "tree": {"own": {"super_admin"}, "sub": {"super_admin"}, "other": set()},
    # Anyone with any role somewhere in the target's organisation.
    "organisation": {
        "own": {"plain_user", "sibling_admin", "group_admin", "super_admin"},
        "sub": {"plain_user", "sibling_admin", "group_admin", "super_admin"},
        "other": {"other_org_admin"},
    },
}


@dataclass
class Row:
    name: str
    policy: str
    method: str = "get"
    # Builds reverse() kwargs from the world and a target; None for views without an object.
    kwargs: Callable[[dict, str], dict] | None = None
    data: Callable[[dict, str], dict] = field(default=lambda world, target: {})
    # An API endpoint: anonymous callers get 401/403 rather than a login redirect.
    api: bool = False
    # Send `data` with this content type (JSON is encoded by the test client), else a form.
    content_type: str | None = None
    # For list views: the policy under which each target's charger may appear in the
    # answer; a charger the role may not see must not be mentioned at all.
    lists: str | None = None


def charger(world, target):
    return {"pk": world["chargers"][target].pk}


def group(world, target):
    return {"pk": world["groups"][target].pk}


def charger_id(world, target):
    return {"charger_id": world["chargers"][target].pk}


def organisation(world, target):
    return {"pk": world["groups"][target].organisation_id}


def membership(world, target):
    """A plain user's membership in the target group (made for the request)."""
    made = Membership.objects.create(
        user=make_user(), group=world["groups"][target], role=Role.USER
    )
    return {"pk": made.pk}


def in_group(world, target):
    return {"group": world["groups"][target].pk}


def ticked(world, target):
    return {"charger": [world["chargers"][target].pk]}


# Named URLs anyone may reach: the login page, the language switch, health.
PUBLIC = {"login", "set_language", "healthz", "home", "groups:invitation"}
# The API's schema and docs page; signin and refresh check the credentials they are
# sent (tests/api/test_tokens.py); api-root is ninja's "/" (shadowed by "home").
PUBLIC |= {"api:openapi-json", "api:openapi-view", "api:api-root"}
# Prometheus has no login: /metrics is limited by address instead (METRICS_ALLOWED_IPS,
# tests/config/test_metrics.py); the test client's 127.0.0.1 is on the default list.
PUBLIC |= {"metrics"}
PUBLIC |= {"api:signin", "api:refresh_token"}
# Namespaces covered elsewhere: the admin site (superusers only) is tried page by page,
# every registered model, in tests/tenancy/test_admin.py.
SKIP_NAMESPACES = {"admin"}


def restart_request(world, target):
    """A finished restart of the target's charger, for the history pages."""
    from restarts.models import RestartJob, RestartRequest

    made = RestartRequest.objects.create(requested_by_name="x", source="web", mode="default")
    RestartJob.objects.create(request=made, charger=world["chargers"][target], state="done")
    return {"pk": made.pk}


def every_restart(world, target):
    """A finished restart on every target's charger: the exports must list only yours."""
    for each in world["chargers"]:
        restart_request(world, each)
    return {}


def restart_selection(world, target):
    return {"charger": world["chargers"][target].pk, "idempotency_key": f"matrix-{target}"}


def healing_policy(world, target):
    return {
        "enabled": True,
        "faulted_minutes": 15,
        "unresponsive": True,
        "max_per_charger_day": 3,
        "max_per_group_hour": 10,
    }


def group_id(world, target):
    return {"group_id": world["groups"][target].pk}


ROWS: list[Row] = [
    Row("logout", "login", method="post"),
    # Selvhelbredelse (issue 16): admins read it, super-admins change it.
    Row("healing:group", "manage", kwargs=group),
    Row("healing:group", "tree", method="post", kwargs=group, data=healing_policy),
    Row("api:self_healing_get", "manage", kwargs=group_id, api=True),
    Row(
        "api:self_healing_put",
        "tree",
        method="put",
        kwargs=group_id,
        data=healing_policy,
        api=True,
        content_type="application/json",
    ),
    # Servicevindue (issue 16): everyone who sees the group reads it; its editors set it.
    Row("groups:maintenance_window", "tree", kwargs=group),
    Row(
        "groups:maintenance_window",
        "tree",
        method="post",
        kwargs=group,
        data=lambda w, t: {"start": "01:00", "end": "05:00"},
    ),
    Row("api:maintenance_window_get", "see", kwargs=group_id, api=True),
    Row(
        "api:maintenance_window_put",
        "tree",
        method="put",
        kwargs=group_id,
        data=lambda w, t: {"start": "01:00", "end": "05:00"},
        api=True,
        content_type="application/json",
    ),
    Row("chargers:list", "login", lists="see"),
    Row("chargers:detail", "see", kwargs=charger),
    Row("restarts:window", "manage", data=restart_selection, lists="manage"),
    Row("restarts:confirm", "manage", method="post", data=restart_selection),
    Row(
        "restarts:window_page",
        "manage",
        data=lambda world, target: {"scope": "filter", **in_group(world, target)},
        lists="manage",
    ),
    Row("restarts:history", "login", lists="manage"),
    Row("restarts:history_detail", "manage", kwargs=restart_request, lists="manage"),
    # Eksportér CSV: the history's (every restart you manage) and one request's.
    Row("restarts:history_export", "login", data=every_restart, lists="manage"),
    Row("restarts:history_detail_export", "manage", kwargs=restart_request, lists="manage"),
    # Cancel: a request's jobs on chargers you manage; a charger's restart.
    Row("restarts:cancel_request", "manage", method="post", kwargs=restart_request),
    Row("restarts:cancel_charger", "manage", method="post", kwargs=charger_id),
    # Grupper, members, organisation, audit trail (issue 9).
    Row("groups:tree", "login", lists="see"),
    Row("groups:detail", "see", kwargs=group, lists="see"),
    Row("groups:create", "tree", kwargs=group),
    Row("groups:rename", "tree", kwargs=group),
    Row("groups:move", "tree", kwargs=group),
    Row("groups:delete", "tree", kwargs=group),
    Row("groups:members", "manage", kwargs=group),
    Row(
        "groups:member_role",
        "manage",
        method="post",
        kwargs=membership,
        data=lambda w, t: {"role": "user"},
    ),
    Row("groups:member_remove", "manage", kwargs=membership),
    Row("groups:organisation", "organisation", kwargs=organisation),
    Row("groups:audit", "tree"),
    # Charger add / edit / move (issue 9).
    Row("chargers:add", "manage", data=in_group),
    Row("chargers:edit", "manage", kwargs=charger),
    Row("chargers:move", "manage", data=ticked),
    Row("api:charger_groups", "login", api=True, lists="see"),
    Row("api:charger_list", "login", api=True, lists="see"),
    Row("api:charger_status", "see", kwargs=charger_id, api=True),
    # The world's chargers are disconnected: a permitted restart is answered 409, not done.
    Row(
        "api:remote_action",
        "manage",
        method="post",
        kwargs=charger_id,
        data=lambda world, target: {"action": 3},
        api=True,
        content_type="application/json",
    ),
    Row(
        "api:restart_create",
        "manage",
        method="post",
        data=lambda world, target: {"charger_ids": [world["chargers"][target].pk]},
        api=True,
        content_type="application/json",
    ),
    Row(
        "api:restart_detail",
        "manage",
        kwargs=lambda w, t: {"restart_id": restart_request(w, t)["pk"]},
        api=True,
    ),
    Row("api:restart_list", "login", api=True, lists="manage"),
    Row("api:restarts_export", "login", data=every_restart, api=True, lists="manage"),
    Row(
        "api:restart_export",
        "manage",
        kwargs=lambda w, t: {"restart_id": restart_request(w, t)["pk"]},
        api=True,
        lists="manage",
    ),
    Row(
        "api:restart_cancel",
        "manage",
        method="post",
        kwargs=lambda w, t: {"restart_id": restart_request(w, t)["pk"]},
        api=True,
    ),
]


@pytest.fixture
def world(db):
    from tests.factories import make_group, make_org

    org = make_org("Org", plan="business")
    other_org = make_org("Other", plan="business")
    root = make_group(org, name="Root")
    a = make_group(parent=root, name="A")
    a1 = make_group(parent=a, name="A1")
    b = make_group(parent=root, name="B")
    other = make_group(other_org, name="O")
    users = {
        "anonymous": None,
        "plain_user": make_member(a, Role.USER),
        "other_org_admin": make_member(other, Role.ADMIN),
        "sibling_admin": make_member(b, Role.ADMIN),
        "group_admin": make_member(a, Role.ADMIN),
        "super_admin": make_member(root, Role.SUPER_ADMIN),
    }
    groups = {"own": a, "sub": a1, "other": other}
    chargers = {t: make_charger(g, is_connected=False) for t, g in groups.items()}
    return {"users": users, "groups": groups, "chargers": chargers}


def all_url_names(resolver=None, namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace
            if ns in SKIP_NAMESPACES:
                continue
            prefix = f"{namespace}{ns}:" if ns else namespace
            yield from all_url_names(entry, prefix)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}"


def test_every_url_has_a_row():
    covered = {row.name for row in ROWS} | PUBLIC
    missing = sorted(set(all_url_names()) - covered)
    assert not missing, (
        f"These URLs have no row in tests/security/test_authorization_matrix.py ROWS: {missing}. "
        "Add a Row(name, policy, method, kwargs=…) saying who may reach each."
    )


def cases():
    for row in ROWS:
        targets = TARGETS if row.kwargs else ["own"]
        for target in targets:
            for role in ROLES:
                yield pytest.param(row, target, role, id=f"{row.name}-{target}-{role}")


def is_refused(response, role, row) -> bool:
    if role == "anonymous":
        if row.api:
            return response.status_code in (401, 403)
        return response.status_code == 302 and "/login/" in response.headers.get("Location", "")
    return response.status_code in (403, 404)


@pytest.mark.parametrize(("row", "target", "role"), list(cases()))
def test_access_follows_the_table(client, world, row, target, role):
    user = world["users"][role]
    if user is not None:
        client.force_login(user)
    url = reverse(row.name, kwargs=row.kwargs(world, target) if row.kwargs else None)
    extra = {"content_type": row.content_type} if row.content_type else {}
    response = getattr(client, row.method)(url, row.data(world, target), **extra)
    allowed = role in POLICY[row.policy][target]
    if allowed:
        assert not is_refused(response, role, row), (
            f"{role} should reach {row.name} ({target}) but got {response.status_code}"
        )
        assert response.status_code < 500
    else:
        assert is_refused(response, role, row), (
            f"{role} must not reach {row.name} ({target}): got {response.status_code}"
        )
        if role != "anonymous" and row.kwargs and role not in POLICY["see"][target]:
            # No probing: an object outside your groups is a 404 like a missing one.
            assert response.status_code == 404, f"{role} probing {row.name} ({target})"
    if row.lists and response.status_code == 200:
        streaming = getattr(response, "streaming", False)  # the CSV exports stream
        content = b"".join(response.streaming_content) if streaming else response.content
        body = content.decode()
        for other_target, item in world["chargers"].items():
            if role not in POLICY[row.lists][other_target]:
                assert item.charge_point_id not in body, (
                    f"{row.name} shows {role} a charger outside their groups ({other_target})"
                )
