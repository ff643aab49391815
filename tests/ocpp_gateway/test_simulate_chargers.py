"""`simulate_chargers` as `make run` starts it: the demo fleet, offline and misbehaving ones."""

import json
import os
import signal
import sys

from django.conf import settings

from chargers.models import Charger
from config import demo
from config.management.commands.run_stack import Command as RunStack
from ocpp_gateway import commands
from tests.helpers import spawn, stop, wait_for
from tests.ocpp_gateway.conftest import database_url


def stack_options(**overrides):
    return {"web": "127.0.0.1:8000", "gateway_port": 9000, "no_simulator": False, **overrides}


def test_run_stack_starts_the_gateway_and_the_demo_fleet():
    procs = dict(RunStack().processes(stack_options(gateway_port=9123)))
    gateway = procs["gateway"]
    assert gateway[1:3] == ["manage.py", "run_gateway"]
    assert gateway[gateway.index("--port") + 1] == "9123"
    simulator = procs["simulator"]
    assert simulator[1:4] == ["manage.py", "simulate_chargers", "--from-db"]
    assert simulator[simulator.index("--url") + 1] == "ws://127.0.0.1:9123/ocpp"
    assert simulator[simulator.index("--password") + 1] == demo.ocpp_password()
    assert set(simulator[simulator.index("--exclude") + 1].split(",")) == set(demo.DEMO_OFFLINE)
    behaviours = [simulator[i + 1] for i, arg in enumerate(simulator) if arg == "--behaviour"]
    assert sorted(behaviours) == sorted(f"{k}={v}" for k, v in demo.DEMO_BEHAVIOURS.items())

    assert "simulator" not in dict(RunStack().processes(stack_options(no_simulator=True)))


def test_the_demo_fleet_connects_except_the_offline_ones(gateway, tmp_path):
    demo.seed("pw")
    command = RunStack().simulator_command(sys.executable, {"gateway_port": gateway.port})
    stats_file = tmp_path / "stats.json"
    env = os.environ.copy()
    env.update({"DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL})
    proc = spawn(
        *command[1:],
        "--reboot-seconds",
        "0.5",
        "--stats-file",
        str(stats_file),
        env=env,
        log=tmp_path / "simulator.log",
    )
    try:
        expected = set(
            Charger.objects.exclude(charge_point_id__in=demo.DEMO_OFFLINE).values_list(
                "charge_point_id", flat=True
            )
        )
        # Passworded and password-less demo chargers both connect.
        assert set(demo.DEMO_WITHOUT_PASSWORD) & expected
        assert Charger.objects.filter(charge_point_id__in=expected).exclude(password_hash="")
        wait_for(
            lambda: (
                set(
                    Charger.objects.filter(is_connected=True).values_list(
                        "charge_point_id", flat=True
                    )
                )
                == expected
            ),
            timeout=60,
            message="every demo charger but the offline ones connected",
        )
        assert not Charger.objects.filter(charge_point_id__in=demo.DEMO_OFFLINE, is_connected=True)
        # The simulator speaks each charger's own version and reports its own model.
        c = Charger.objects.get(charge_point_id="NE-KBH-S-003")
        assert c.ocpp_version == "2.0.1" and c.model == "Copper SB"

        reject_id = next(k for k, v in demo.DEMO_BEHAVIOURS.items() if v == "reject")
        assert commands.send_reset(reject_id, "Soft", timeout=10).status == "Rejected"
        accepted = commands.send_reset("NE-KBH-S-001", "Hard", timeout=10)
        assert accepted.status == "Accepted"
        wait_for(lambda: not commands.is_connected("NE-KBH-S-001"), message="went to reboot")
        wait_for(lambda: commands.is_connected("NE-KBH-S-001"), message="came back")
    finally:
        assert stop(proc, signal.SIGTERM) == 0

    stats = json.loads(stats_file.read_text())
    assert set(stats) == expected
    assert stats["NE-KBH-S-001"]["resets"] == 1 and stats["NE-KBH-S-001"]["boots"] == 2
    assert stats[reject_id]["resets"] == 1 and stats[reject_id]["boots"] == 1
    assert sum(s["resets"] for s in stats.values()) == 2
    wait_for(
        lambda: not Charger.objects.filter(is_connected=True).exists(),
        message="the fleet's sockets closed",
    )
