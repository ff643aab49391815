"""docker-compose.yml is valid and only runs commands this project has."""

import ipaddress
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
    # Chargers reach it through the proxy, which publishes the same port.
    assert any(str(p).endswith(f":{port}") for p in services["proxy"]["ports"])
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert f"server gateway:{port} resolve" in conf
    assert "profiles" not in services["gateway"]

    simulator = shlex.split(services["simulator"]["command"])
    assert simulator[:4] == ["python", "manage.py", "simulate_chargers", "--from-db"]
    # Through the proxy, as real chargers: they land on either gateway replica.
    assert simulator[simulator.index("--url") + 1] == f"ws://proxy:{port}/ocpp"


def test_compose_runs_two_gateways_behind_the_proxys_one_address():
    services = compose_services()
    assert services["gateway"]["deploy"]["replicas"] == 2
    # Each replica names itself (the default gateway id is its host name and port).
    assert "--gateway-id" not in shlex.split(services["gateway"]["command"])
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    # The service name is re-resolved (replicas added or removed), and a replica that
    # refuses a new socket (stopping) hands the charger to the next one.
    assert "resolver 127.0.0.11" in conf and "zone gateway" in conf
    assert conf.count("proxy_next_upstream error timeout http_502 http_503;") == 2
    assert services["simulator"]["profiles"], "the simulator only runs when asked for"


def test_compose_trusts_exactly_its_proxy_and_publishes_only_the_proxy():
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = data["services"]
    proxy_address = services["proxy"]["networks"]["default"]["ipv4_address"]
    subnet = data["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(subnet)
    # Only the proxy is reachable from outside: a published web or gateway port would let
    # a client around it, and its address is the only one whose headers are believed.
    assert [name for name, service in services.items() if service.get("ports")] == ["proxy"]
    for name in ("web", "worker", "beat", "gateway", "simulator"):
        assert services[name]["environment"]["TRUSTED_PROXIES"] == proxy_address, name
    assert services["gateway"]["environment"]["OCPP_PROXY_TERMINATES_TLS"] == "1"
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    # Every forwarded header is set (a client's own is replaced), never appended to.
    assert "$proxy_add_x_forwarded_for" not in conf
    assert conf.count("proxy_set_header X-Forwarded-For $remote_addr;") == 4
    assert conf.count("proxy_set_header X-Client-Cert") == 4
    assert "proxy_set_header X-Client-Cert $ssl_client_escaped_cert;" in conf
    assert "ssl_verify_client optional;" in conf and "ssl_crl /etc/nginx/tls/crl.pem;" in conf
    mounts = services["proxy"]["volumes"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in mounts
    assert "./deploy/tls:/etc/nginx/tls:ro" in mounts


def test_every_named_volume_is_declared_and_the_stores_keep_their_data():
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    declared = set(data.get("volumes") or {})
    for name, service in data["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source")
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name}: volume {source} is not declared"
    postgres = data["services"]["postgres"]["volumes"]
    assert any(m.endswith(":/var/lib/postgresql/data") for m in postgres)
    # Redis keeps queued work and command marks across a restart and never evicts them.
    redis_command = " ".join(data["services"]["redis"]["command"])
    assert "--appendonly yes" in redis_command and "noeviction" in redis_command
    assert any(m.endswith(":/data") for m in data["services"]["redis"]["volumes"])
