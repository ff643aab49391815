"""`simulate_chargers` as `make run` starts it: the demo fleet, offline and misbehaving ones."""

import json
import os
import signal
import sys

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from chargers.manage_services import charger_create
from chargers.models import Charger
from config import demo
from config.management.commands.run_stack import Command as RunStack
from ocpp_gateway import commands
from tenancy.models import Group
from tests.factories import make_charger
from tests.helpers import manage, spawn, stop, wait_for
from tests.ocpp_gateway.conftest import database_url, open_client, ws_url


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


def stack_env() -> dict:
    env = os.environ.copy()
    env.update({"DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL})
    return env


def test_the_demo_fleet_connects_except_the_offline_ones(gateway, tmp_path):
    """...and never a charger a user added: make run's simulator plays the demo fleet only."""
    demo.seed("pw")
    superadmin = get_user_model().objects.get(username="superadmin")
    real, _ = charger_create(
        actor=superadmin,
        group=Group.objects.get(name="P-hus Syd"),
        charge_point_id="REAL-1",
        name="Our own charger",
    )
    assert not real.simulated
    command = RunStack().simulator_command(sys.executable, {"gateway_port": gateway.port})
    stats_file = tmp_path / "stats.json"
    proc = spawn(
        *command[1:],
        "--reboot-seconds",
        "0.5",
        "--stats-file",
        str(stats_file),
        env=stack_env(),
        log=tmp_path / "simulator.log",
    )
    try:
        expected = set(
            Charger.objects.exclude(charge_point_id__in=[*demo.DEMO_OFFLINE, "REAL-1"]).values_list(
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
        booted = wait_for(
            lambda: Charger.objects.get(charge_point_id="NE-KBH-S-001").last_boot_at,
            message="its first boot recorded",
        )
        accepted = commands.send_reset("NE-KBH-S-001", "Hard", timeout=10)
        assert accepted.status == "Accepted"
        wait_for(lambda: not commands.is_connected("NE-KBH-S-001"), message="went to reboot")
        wait_for(lambda: commands.is_connected("NE-KBH-S-001"), message="came back")
        # Back on a socket is not booted yet: its boot is recorded once it is accepted.
        wait_for(
            lambda: Charger.objects.get(charge_point_id="NE-KBH-S-001").last_boot_at > booted,
            message="booted again",
        )
    finally:
        assert stop(proc, signal.SIGTERM) == 0

    stats = json.loads(stats_file.read_text())
    assert set(stats) == expected and "REAL-1" not in stats
    real.refresh_from_db()
    assert real.last_boot_at is None and real.connected_at is None, "REAL-1 was never played"
    assert stats["NE-KBH-S-001"]["resets"] == 1 and stats["NE-KBH-S-001"]["boots"] == 2
    assert stats[reject_id]["resets"] == 1 and stats[reject_id]["boots"] == 1
    assert sum(s["resets"] for s in stats.values()) == 2
    wait_for(
        lambda: not Charger.objects.filter(is_connected=True).exists(),
        message="the fleet's sockets closed",
    )


def test_simulate_chargers_reads_each_chargers_profile_from_the_database(
    make_gateway, runner, tmp_path
):
    from django.core.management import call_command

    from ocpp_gateway.management.commands.simulate_chargers import Command
    from ocpp_gateway.simulator import Fleet
    from ocpp_gateway.tls import TlsConfig
    from tests.factories import make_charger

    call_command("make_dev_certs", out=str(tmp_path / "certs"), ids="CP-PROF-3")
    certs = tmp_path / "certs"
    chain = (certs / "server.crt", certs / "server.key")
    gateway = make_gateway(tls=TlsConfig(chains=(chain,), client_ca=certs / "ca.pem"))
    for profile in (1, 2, 3):
        make_charger(
            charge_point_id=f"CP-PROF-{profile}",
            security_profile=profile,
            password="pw-for-the-simulator",
            is_connected=False,
            simulated=True,
        )
    command = Command()
    args = [
        "--from-db",
        "--url", f"wss://localhost:{gateway.port}/ocpp",
        "--password", "pw-for-the-simulator",
        "--tls-ca", str(certs / "ca.pem"),
        "--cert-dir", str(certs),
        "--reboot-seconds", "0.3",
    ]  # fmt: skip
    options = vars(command.create_parser("manage.py", "simulate_chargers").parse_args(args))
    fleet: Fleet = command.build(options)
    assert {cp: sim.security_profile for cp, sim in fleet.chargers.items()} == {
        "CP-PROF-1": 1,
        "CP-PROF-2": 2,
        "CP-PROF-3": 3,
    }
    running = runner.submit(fleet.run())
    try:
        wait_for(
            lambda: (
                dict(
                    Charger.objects.filter(charge_point_id__startswith="CP-PROF-").values_list(
                        "charge_point_id", "connection_security_profile"
                    )
                )
                == {"CP-PROF-1": 2, "CP-PROF-2": 2, "CP-PROF-3": 3}
            ),  # profile 1 over wss is 2
            timeout=30,
            message="each charger connected with what its profile asks",
        )
    finally:
        runner.call(fleet.stop)
        running.result(30)
    # Without the certificate folder a profile 3 charger cannot be simulated: said so.
    options["cert_dir"] = None
    with pytest.raises(CommandError, match="needs --cert-dir"):
        command.build(options)


def test_simulate_chargers_id_plays_exactly_the_named_chargers(gateway, tmp_path):
    a, b, c = (make_charger(charge_point_id=f"MINE-{n}", is_connected=False) for n in "ABC")
    stats_file = tmp_path / "stats.json"
    proc = spawn(
        "manage.py",
        "simulate_chargers",
        "--id",
        a.charge_point_id,
        "--id",
        f"{b.charge_point_id},",
        "--url",
        ws_url(gateway),
        "--stats-file",
        str(stats_file),
        env=stack_env(),
        log=tmp_path / "simulator.log",
    )
    try:
        wait_for(
            lambda: (
                Charger.objects.filter(is_connected=True, last_boot_at__isnull=False).count() == 2
            ),
            timeout=60,
            message="the two named chargers online",
        )
    finally:
        assert stop(proc, signal.SIGTERM) == 0
    assert set(json.loads(stats_file.read_text())) == {"MINE-A", "MINE-B"}
    c.refresh_from_db()
    assert c.last_boot_at is None

    unknown = manage("simulate_chargers", "--id", "MINE-A,NOPE-1,NOPE-2", env=stack_env())
    assert unknown.returncode != 0
    assert "no charger with charge point id NOPE-1, NOPE-2" in unknown.stderr


def test_simulate_chargers_id_refuses_a_connected_real_charger_without_take_over(
    gateway, runner, tmp_path
):
    make_charger(charge_point_id="REAL-1", is_connected=False)
    _cp, websocket, _reader = runner.run(open_client(ws_url(gateway), "REAL-1", "1.6"))
    wait_for(lambda: Charger.objects.get(charge_point_id="REAL-1").is_connected)

    refused = manage(
        "simulate_chargers", "--id", "REAL-1", "--url", ws_url(gateway), env=stack_env()
    )
    assert refused.returncode != 0
    assert "REAL-1: a real charger connected now" in refused.stderr
    assert "--take-over" in refused.stderr
    # The real one kept its socket: it still answers on it.
    assert runner.run(websocket.ping(), timeout=5) is not None
    assert websocket.close_code is None

    # Asked for, the twin takes the charger's place.
    proc = spawn(
        "manage.py",
        "simulate_chargers",
        "--id",
        "REAL-1",
        "--take-over",
        "--url",
        ws_url(gateway),
        env=stack_env(),
        log=tmp_path / "simulator.log",
    )
    try:
        runner.run(websocket.wait_closed(), timeout=30)
        assert "replaced" in websocket.close_reason
    finally:
        stop(proc, signal.SIGTERM)
