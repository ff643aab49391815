"""`make bench` cannot rot: the harness runs every scenario end to end at a tiny scale.

Real processes (gateway, bare reference, load generators, Celery worker), the real
PostgreSQL (a database of its own next to the test database) and Redis. It asserts
the results' shape and that every scenario produced its figures, never timings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.helpers import ROOT

FIGURE_KEYS = {"name", "unit", "value", "bare", "ratio", "target", "met", "scenario", "detail"}
EXPECTED = {
    "fleet": 3,  # connections held, memory per connection, message throughput
    "storm": 3,  # all back and booted (without and with passwords), handshakes refused
    "tls_storm": 3,  # profile 2 and profile 3 storms over TLS, TLS CPU per connection
    "restart": 2,  # CallResults recorded, jobs done
    "pages": 8,  # median time and query count for each of four requests
    "matching": 2,  # the window and OKAY for all matching the filter
    "two_gateways": 2,  # connections held over two gateways, their bulk restart
    "overload": 1,  # jobs ended for chargers whose socket was open, during a storm
}
WITH_BARE = {"fleet", "storm", "tls_storm", "restart"}


def _bench_database_url() -> str:
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal"))
    if not parts.scheme.startswith("postgres"):
        pytest.skip("the benchmarks need PostgreSQL (DATABASE_URL is not postgres://)")
    name = parts.path.lstrip("/") or "portal"
    return urlunsplit(parts._replace(path=f"/{name}_bench_smoke"))


@pytest.mark.timeout(900)
def test_bench_runs_every_scenario_and_writes_its_figures(tmp_path):
    output = tmp_path / "results.json"
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": _bench_database_url(),
        "BENCH_REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--scale", "0.002", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "figure" in run.stdout and "target" in run.stdout  # the table was printed

    rows = json.loads(output.read_text())
    assert isinstance(rows, list)
    for row in rows:
        assert set(row) >= FIGURE_KEYS, row
        assert isinstance(row["name"], str) and row["name"]
        assert isinstance(row["target"], str) and row["target"]
        assert isinstance(row["met"], bool)
        assert isinstance(row["value"], int | float), row
        if row["bare"]:  # a ratio wherever the reference has a non-zero figure
            assert isinstance(row["ratio"], int | float), row

    by_scenario = {}
    for row in rows:
        by_scenario.setdefault(row["scenario"], []).append(row)
    assert {k: len(v) for k, v in by_scenario.items()} == EXPECTED
    for scenario in WITH_BARE:
        assert any(row["bare"] is not None for row in by_scenario[scenario]), scenario
    for scenario in ("fleet", "storm", "tls_storm", "restart", "two_gateways"):
        assert any("cpu_seconds" in row["detail"] for row in by_scenario[scenario]), scenario
    # The two-gateway restart stands beside the single-gateway one of the same run.
    two = next(r for r in rows if r["name"] == "two gateways: bulk restart POST to all jobs done")
    one = next(r for r in rows if r["name"] == "bulk restart: POST to all jobs done")
    assert two["bare"] == one["value"]
    overload = by_scenario["overload"][0]
    assert overload["value"] == 0 and overload["met"], overload
