"""docker-compose.yml is valid and only runs commands this project has."""

import shlex
from pathlib import Path

import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]


def compose_services():
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict) and "services" in data
    return data["services"]


def test_compose_has_the_production_like_services():
    services = compose_services()
    assert {"postgres", "redis", "web", "worker", "beat", "gateway", "simulator"} <= set(services)
    for name in ("web", "worker", "beat", "gateway", "simulator"):
        env = services[name].get("environment", {})
        assert "DATABASE_URL" in env and "REDIS_URL" in env, name


def test_every_compose_command_is_one_the_project_has():
    services = compose_services()
    ours = {n: s for n, s in services.items() if "build" in s}
    assert ours, "our own services build from the project"
    commands = get_commands()
    for name, service in ours.items():
        cmd = service["command"]
        argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        if argv[:2] == ["python", "manage.py"]:
            assert argv[2] in commands, f"{name}: unknown management command {argv[2]}"
        elif argv[0] == "gunicorn":
            module, _, attr = argv[-1].partition(":")
            assert (ROOT / (module.replace(".", "/") + ".py")).exists(), name
            assert attr == "application"
        elif argv[0] == "celery":
            assert argv[1:3] == ["-A", "config"], name
            assert argv[3] in ("worker", "beat"), name
        else:
            raise AssertionError(f"{name}: unexpected command {cmd!r}")


def test_compose_runs_the_gateway_and_an_optional_simulated_fleet():
    services = compose_services()
    gateway = shlex.split(services["gateway"]["command"])
    assert gateway[:3] == ["python", "manage.py", "run_gateway"]
    assert gateway[gateway.index("--host") + 1] == "0.0.0.0"
    port = gateway[gateway.index("--port") + 1]
    assert any(str(p).endswith(f":{port}") for p in services["gateway"]["ports"])
    assert "profiles" not in services["gateway"]

    simulator = shlex.split(services["simulator"]["command"])
    assert simulator[:4] == ["python", "manage.py", "simulate_chargers", "--from-db"]
    assert simulator[simulator.index("--url") + 1] == f"ws://gateway:{port}/ocpp"
    assert services["simulator"]["profiles"], "the simulator only runs when asked for"
