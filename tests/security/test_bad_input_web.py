"""Every endpoint that takes a selection of chargers refuses bad ids with a clear 4xx and
changes nothing: malformed ids, unknown ids, another organisation's ids, oversized
selections. One table of endpoints; add a row when a view takes ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.conf import settings
from django.urls import reverse

from chargers.models import Charger
from restarts.models import RestartJob, RestartRequest
from tenancy.models import AuditEvent, Membership
from tests.factories import make_charger, make_group, make_member, make_org


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str  # "get" or "post"
    extra: tuple = ()  # further fields: ((name, callable(world) -> value), ...)

    def data(self, world, ids):
        data = {"charger": ids}
        for key, value in self.extra:
            data[key] = value(world)
        return data


ENDPOINTS = [
    Endpoint("restarts:window", "get"),
    Endpoint("restarts:confirm", "post", (("idempotency_key", lambda w: "k1"),)),
    Endpoint("chargers:move", "get"),
    Endpoint("chargers:move", "post", (("group", lambda w: w["target"].pk),)),
]

MALFORMED = ["abc", "", "-1", "1.5", "0x10", "1 OR 1=1", "9" * 30, "²", "\x00", "1e3"]


@pytest.fixture
def world(db):
    org = make_org("Own", plan="business")
    other_org = make_org("Other", plan="business")
    group = make_group(org, name="Site")
    target = make_group(org, name="Target")
    foreign_group = make_group(other_org, name="Foreign")
    admin = make_member(group, Membership.Role.SUPER_ADMIN)
    Membership.objects.create(user=admin, group=target, role=Membership.Role.SUPER_ADMIN)
    own = [make_charger(group) for _ in range(3)]
    foreign = make_charger(foreign_group)
    return {"admin": admin, "own": own, "foreign": foreign, "target": target}


def snapshot():
    return (
        RestartRequest.objects.count(),
        RestartJob.objects.count(),
        AuditEvent.objects.count(),
        sorted(Charger.objects.values_list("pk", "group_id")),
    )


def ask(client, world, endpoint, ids, htmx):
    client.force_login(world["admin"])
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return getattr(client, endpoint.method)(
        reverse(endpoint.name), endpoint.data(world, ids), **headers
    )


def assert_refused(response, before):
    assert 400 <= response.status_code < 500, response.status_code
    body = response.content.decode()
    assert "Traceback" not in body
    assert snapshot() == before, "a refused request changed something"


def selections(world):
    unknown = Charger.objects.order_by("-pk").first().pk + 1000
    cases = [(f"malformed {value!r}", [value]) for value in MALFORMED]
    cases += [
        ("unknown id", [str(unknown)]),
        ("another organisation's charger", [str(world["foreign"].pk)]),
        # One field more than the portal accepts in a request (Django answers 400).
        (
            "oversized selection",
            [str(world["own"][0].pk)] * (settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1),
        ),
    ]
    return cases


CASE_NAMES = [f"malformed {v!r}" for v in MALFORMED] + [
    "unknown id",
    "another organisation's charger",
    "oversized selection",
]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
@pytest.mark.parametrize("case", CASE_NAMES)
@pytest.mark.parametrize(
    "endpoint", ENDPOINTS, ids=[f"{e.method.upper()} {e.name}" for e in ENDPOINTS]
)
def test_bad_selections_are_refused_with_a_4xx_and_change_nothing(
    client, world, endpoint, case, htmx
):
    ids = dict(selections(world))[case]
    before = snapshot()
    response = ask(client, world, endpoint, ids, htmx)
    assert_refused(response, before)


@pytest.mark.parametrize(
    "endpoint",
    [e for e in ENDPOINTS if e.method == "post"],
    ids=[f"POST {e.name}" for e in ENDPOINTS if e.method == "post"],
)
@pytest.mark.parametrize("bad", ["another organisation's charger", "unknown id", "malformed"])
def test_a_bad_id_among_good_ones_refuses_the_whole_selection(client, world, endpoint, bad):
    """One bad id in a good selection: a 4xx and nothing done, not even to the good ones."""
    bad_id = {
        "another organisation's charger": str(world["foreign"].pk),
        "unknown id": str(Charger.objects.order_by("-pk").first().pk + 1000),
        "malformed": "9" * 30,
    }[bad]
    ids = [str(c.pk) for c in world["own"]] + [bad_id]
    before = snapshot()
    response = ask(client, world, endpoint, ids, htmx=True)
    assert_refused(response, before)
