"""Many chargers connecting at once (as after a mass restart) can all be reached afterwards."""

import redis
from django.conf import settings

from chargers.models import Charger
from ocpp_gateway import commands, registry
from ocpp_gateway.simulator import Fleet, SimulatedCharger
from tests.factories import make_charger, make_group
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import ws_url

STORM = 250  # more sockets opening at once than redis-py's default pool has connections


def test_every_charger_of_a_storm_gets_a_route_and_answers_commands(gateway, runner):
    group = make_group()
    ids = [make_charger(group=group).charge_point_id for _ in range(STORM)]
    fleet = Fleet(
        [
            SimulatedCharger(cp_id, ws_url(gateway), heartbeat_seconds=60, backoff_base=0.2)
            for cp_id in ids
        ]
    )
    running = runner.submit(fleet.run())  # all at once
    try:
        client = redis.Redis.from_url(settings.REDIS_URL)
        wait_for(
            lambda: client.hlen(registry.ROUTES) == STORM,
            timeout=60,
            message=f"{STORM} routes in Redis",
        )
        wait_for(
            lambda: (
                Charger.objects.filter(charge_point_id__in=ids, is_connected=True).count() == STORM
            ),
            timeout=60,
            message="every charger recorded connected",
        )
        assert all(commands.is_connected(cp_id) for cp_id in ids)
        # Reachable on the sockets they opened in the storm, not after being dropped as
        # silent and reconnecting one by one.
        connects = runner.call(lambda: [c.stats.connects for c in fleet.chargers.values()])
        assert connects == [1] * STORM
        # The handshakes read their chargers together: a query per batch, not per socket.
        assert gateway.handshake.lookup.queries <= STORM // 5
        result = commands.trigger_boot_notification(ids[0], timeout=10)
        assert result.ok and result.status == "Accepted"
    finally:
        runner.call(fleet.stop)
        running.result(30)
