"""A restart wave is no bigger than what the running gateways say they can admit."""

import json

import redis
from django.conf import settings

from ocpp_gateway import registry
from restarts.models import RestartJob, RestartRequest
from restarts.waves import restart_jobs_release
from tests.factories import make_charger, make_group
from tests.helpers import wait_for


def test_a_restart_wave_is_no_bigger_than_the_gateways_can_admit(make_gateway, restarts_queue):
    gateway = make_gateway(boot_rate=3)
    client = redis.Redis.from_url(settings.REDIS_URL)
    wait_for(
        lambda: "admit" in json.loads(client.get(registry.alive_key(gateway.gateway_id)) or "{}"),
        timeout=10,
        message="admission in the liveness key",
    )
    client.close()
    group = make_group()
    request = RestartRequest.objects.create(requested_by_name="x", source="web", mode="default")
    RestartJob.objects.bulk_create(
        RestartJob(request=request, charger=make_charger(group=group)) for _ in range(8)
    )
    released = restart_jobs_release(group_ids=[group.pk])
    assert len(released) == 3  # what the gateway can admit now, not the whole group
    assert RestartJob.objects.filter(released_at__isnull=False).count() == 3


def test_without_a_gateway_saying_anything_waves_are_as_before(db, restarts_queue):
    group = make_group()
    request = RestartRequest.objects.create(requested_by_name="x", source="web", mode="default")
    RestartJob.objects.bulk_create(
        RestartJob(request=request, charger=make_charger(group=group)) for _ in range(4)
    )
    assert len(restart_jobs_release(group_ids=[group.pk])) == 4
