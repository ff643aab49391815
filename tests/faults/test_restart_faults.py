"""A bulk restart survives its parts crashing: every job ends final and true, no double Reset.

The gateway, the Celery worker and the beat run as separate processes (tests/faults/
conftest.py `Stack`); the chargers are our simulator over real sockets, and count every
Reset they receive. These are the long runs: `make soak`.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

import pytest

from chargers.models import Charger
from restarts import services
from restarts.models import RestartJob, RestartRequest
from tenancy.models import Membership
from tests.factories import make_charger, make_group, make_member, make_org
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import ws_url

pytestmark = pytest.mark.soak

FINAL = {"done", "rejected", "no_answer", "not_back", "skipped", "unconfirmed", "cancelled"}


def fleet(count: int, *, prefix: str):
    group = make_group(make_org(plan="business"), name=f"{prefix} site")
    admin = make_member(group, Membership.Role.ADMIN)
    chargers = [
        make_charger(group, charge_point_id=f"{prefix}-{i:03d}", is_connected=False)
        for i in range(count)
    ]
    return admin, chargers


def all_online(count: int) -> bool:
    return Charger.objects.filter(is_connected=True, last_boot_at__isnull=False).count() == count


def states(request) -> Counter:
    return Counter(RestartJob.objects.filter(request=request).values_list("state", flat=True))


def unfinished(request) -> int:
    return RestartJob.objects.filter(
        request=request, state__in=RestartJob.State.unfinished()
    ).count()


def test_worker_killed_mid_restart_of_200_every_job_ends_and_no_charger_is_reset_twice(
    stack_factory, celery_queues, sims
):
    stack = stack_factory(RESTART_WAVE_SIZE="25")
    stack.start_gateway()
    stack.start_worker("w1", concurrency=4)
    stack.start_beat()
    admin, chargers = fleet(200, prefix="WK")
    sim = {
        c.charge_point_id: sims.start(
            c.charge_point_id, ws_url(stack.gateway_port), reboot_seconds=0.5
        )
        for c in chargers
    }
    wait_for(lambda: all_online(200), 90, message="200 chargers online")

    request = services.restart_request_create(
        user=admin, charger_ids=[c.pk for c in chargers]
    ).request
    wait_for(lambda: states(request)["done"] >= 25, 60, message="the first wave done")
    stack.kill(stack.workers["w1"])  # SIGKILL, worker and its pool, mid-restart
    at_kill = states(request)
    assert unfinished(request) > 0, f"the kill came too late to matter: {at_kill}"

    stack.start_worker("w2", concurrency=4)
    wait_for(lambda: unfinished(request) == 0, 180, message="every job final")

    jobs = list(RestartJob.objects.filter(request=request).select_related("charger"))
    assert len(jobs) == 200
    for job in jobs:
        stats = sim[job.charger.charge_point_id].stats
        assert job.state in FINAL and job.finished_at is not None, job
        assert stats.resets <= 1, f"{job.charger.charge_point_id} got {stats.resets} Resets"
        if job.state == "done":
            assert stats.resets == 1 and stats.boots == 2
        else:
            # The worker died after claiming the job, before the Reset left: the job
            # never reached the charger and is not sent again.
            assert job.state == "no_answer" and stats.resets == 0, (job.state, job.detail, stats)
    final = Counter(job.state for job in jobs)
    assert final["done"] > at_kill["done"], "the new worker carried the restart on"
    # Nobody is stuck: every charger is back and connected.
    wait_for(lambda: all(s.connected for s in sim.values()), message="all chargers connected")
    assert Charger.objects.filter(is_connected=True).count() == 200


def test_gateway_killed_mid_restart_chargers_come_back_and_missing_ones_end_not_back(
    stack_factory, celery_queues, sims
):
    stack = stack_factory(RESTART_BOOT_DEADLINE="25")
    stack.start_gateway()
    stack.start_worker("w1", concurrency=2)
    stack.start_beat()
    admin, chargers = fleet(20, prefix="GK")
    gone = {c.charge_point_id for c in chargers[:3]}
    sim = {
        c.charge_point_id: sims.start(
            c.charge_point_id,
            ws_url(stack.gateway_port),
            # Away long enough that the gateway dies and returns while they reboot.
            reboot_seconds=3,
            behaviour="never_back" if c.charge_point_id in gone else "accept",
        )
        for c in chargers
    }
    wait_for(lambda: all_online(20), 60, message="20 chargers online")

    request = services.restart_request_create(
        user=admin, charger_ids=[c.pk for c in chargers]
    ).request
    wait_for(lambda: states(request)["accepted"] == 20, 30, message="every Reset accepted")
    stack.kill(stack.gateway_proc)
    # The rebooting chargers find no gateway when they try to come back.
    wait_for(
        lambda: sum(s.stats.handshake_failures > 0 for s in sim.values()) >= 5,
        30,
        message="chargers failing to reconnect",
    )
    stack.start_gateway()

    wait_for(lambda: unfinished(request) == 0, 90, message="every job final")
    for job in RestartJob.objects.filter(request=request).select_related("charger"):
        cp_id = job.charger.charge_point_id
        stats = sim[cp_id].stats
        assert stats.resets == 1, (cp_id, stats)
        if cp_id in gone:
            assert job.state == "not_back" and job.detail == "no_boot", (cp_id, job.state)
            assert not job.charger.is_connected
        else:
            # Confirmed by its BootNotification; a charger whose socket died with the
            # gateway before it could reboot is asked for one once it is back.
            assert job.state == "done" and job.confirmed_by in ("boot", "trigger"), (
                cp_id,
                job.state,
                job.confirmed_by,
            )
            assert stats.boots == 2
    wait_for(
        lambda: Charger.objects.filter(is_connected=True).count() == 17,
        message="the 17 that came back are connected",
    )


class Browser:
    """A signed-in user's browser against the web process (session made in the shared DB)."""

    def __init__(self, base_url: str, client, user):
        client.force_login(user)
        self.base_url = base_url
        self.csrf = "c" * 32
        self.cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={self.csrf}"

    def request(self, method: str, path: str, data: dict | None = None, htmx=False):
        body = urllib.parse.urlencode(data or {}, doseq=True).encode() if data else None
        req = urllib.request.Request(self.base_url + path, data=body, method=method)
        req.add_header("Cookie", self.cookie)
        req.add_header("X-CSRFToken", self.csrf)
        if htmx:
            req.add_header("HX-Request", "true")
        if body:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def okay(self, chargers, key: str):
        data = {"charger": [c.pk for c in chargers], "mode": "default", "idempotency_key": key}
        return self.request("POST", "/restarts/confirm/", data, htmx=True)


def test_redis_restarted_mid_restart_work_resumes_without_duplicates_and_pages_explain(
    private_redis, stack_factory, sims, client
):
    stack = stack_factory(redis_url=private_redis.url, RESTART_WAVE_SIZE="5")
    stack.start_gateway()
    stack.start_worker("w1", concurrency=2)
    stack.start_beat()
    admin, chargers = fleet(30, prefix="RR")
    later = [
        make_charger(chargers[0].group, charge_point_id=f"RR-LATER-{i}", is_connected=False)
        for i in range(2)
    ]
    sim = {
        c.charge_point_id: sims.start(
            c.charge_point_id, ws_url(stack.gateway_port), reboot_seconds=1
        )
        for c in [*chargers, *later]
    }
    wait_for(lambda: all_online(32), 60, message="32 chargers online")
    browser = Browser(stack.start_web(), client, admin)

    status, body = browser.okay(chargers, "first")
    assert status == 200, body
    request = RestartRequest.objects.get(idempotency_key="first")
    wait_for(lambda: states(request)["done"] >= 5, 60, message="the first wave done")

    private_redis.kill()
    queued_while_away = set(
        RestartJob.objects.filter(request=request, state="queued").values_list("pk", flat=True)
    )
    assert queued_while_away, "the outage came too late to matter"
    # The pages still answer; a new restart is refused with a reason, nothing written.
    status, body = browser.request("GET", "/chargers/")
    assert status == 200 and "RR-001" in body
    status, body = browser.okay(later, "while-away")
    assert status == 503, body
    assert "jobkøen ikke er tilgængelig" in body and "Intet blev genstartet" in body
    assert not RestartRequest.objects.filter(idempotency_key="while-away").exists()
    assert not RestartJob.objects.filter(charger__in=later).exists()

    private_redis.start()  # same port, same append-only file
    # A worker that died of the broker's disappearance is started again, as its
    # supervisor would; one still alive reconnects by itself.
    wait_for(
        lambda: not stack.revive_dead_workers() and unfinished(request) == 0,
        120,
        message="every job final",
    )
    for job in RestartJob.objects.filter(request=request).select_related("charger"):
        stats = sim[job.charger.charge_point_id].stats
        assert stats.resets <= 1, (job.charger.charge_point_id, stats)
        if job.pk in queued_while_away:
            # Waiting when Redis went: sent once it was back, exactly once.
            assert job.state == "done" and stats.resets == 1 and stats.boots == 2, job
        else:
            assert job.state in ("done", "no_answer"), job
    assert states(request)["done"] >= len(queued_while_away)
    # And restarting works again.
    status, body = browser.okay(later, "after")
    assert status == 200, body
    after = RestartRequest.objects.get(idempotency_key="after")
    wait_for(lambda: states(after)["done"] == 2, 60, message="the later restart done")
    assert [sim[c.charge_point_id].stats.resets for c in later] == [1, 1]
