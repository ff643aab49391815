"""The web's /metrics: restart jobs by state, request latency by view, who may read it."""

import os
import signal
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from restarts.models import RestartJob, RestartRequest
from tests.factories import make_charger, make_group, make_member
from tests.helpers import free_port, spawn, stop, wait_for, wait_for_port
from tests.ocpp_gateway.conftest import database_url

URL = "/metrics"


def samples_of(body: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client, **extra) -> dict:
    response = client.get(URL, **extra)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples_of(response.content.decode())


def test_web_metrics_show_restart_jobs_by_state_in_one_query(client, db):
    group = make_group()
    admin = make_member(group, username="jobsadmin")
    request = RestartRequest.objects.create(
        requested_by=admin, requested_by_name="a", source="web", mode="default"
    )
    states = ["queued", "queued", "sent", "done", "done", "done", "rejected"]
    for state in states:
        RestartJob.objects.create(request=request, charger=make_charger(group), state=state)

    with CaptureQueriesContext(connection) as queries:
        samples = scrape(client)
    job_queries = [q for q in queries.captured_queries if "restartjob" in q["sql"].lower()]
    assert len(job_queries) == 1
    for state in RestartJob.State.values:
        assert value(samples, "portal_restart_jobs", state=state) == states.count(state)
    assert ("portal_task_queue_length", (("queue", "restarts"),)) in samples


def test_request_latency_is_labelled_by_view_name_not_path(client, db):
    group = make_group()
    admin = make_member(group, username="latency")
    chargers = [make_charger(group) for _ in range(3)]
    before = scrape(client)
    name = "portal_http_request_duration_seconds_count"
    client.force_login(admin)
    for charger in chargers:
        assert client.get(f"/chargers/{charger.pk}/").status_code == 200
    assert client.get("/no-such-page-4711/").status_code == 404

    after = scrape(client)
    detail = {"view": "chargers:detail", "method": "GET", "status": "2xx"}
    assert value(after, name, **detail) - value(before, name, **detail) == 3
    unmatched = {"view": "unmatched", "method": "GET", "status": "4xx"}
    assert value(after, name, **unmatched) - value(before, name, **unmatched) == 1
    labels = {v for (_n, pairs) in after for _k, v in pairs}
    assert not any(str(c.pk) in v and "/" in v for c in chargers for v in labels)
    assert not any("4711" in v for v in labels)


def test_web_metrics_need_no_login_and_refuse_other_addresses_and_proxied_requests(
    client, db, settings
):
    assert client.get(URL).status_code == 200  # no login, no redirect to one
    assert client.get(URL, REMOTE_ADDR="10.1.2.3").status_code == 404
    assert client.post(URL, REMOTE_ADDR="10.1.2.3").status_code == 404
    assert client.post(URL).status_code == 405
    # Relayed by a proxy on this host for someone outside: refused.
    assert client.get(URL, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 404
    assert client.get(URL, HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200

    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get(URL, REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get(URL).status_code == 404
    settings.METRICS_ALLOWED_IPS = []
    assert client.get(URL).status_code == 404


@pytest.mark.timeout(120)
def test_gunicorn_workers_are_aggregated_in_multiprocess_mode(db, tmp_path):
    port = free_port()
    env = os.environ.copy()
    env.update(
        DATABASE_URL=database_url(),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        DEBUG="1",
    )
    proc = spawn(
        "-m",
        "gunicorn",
        "-c",
        "config/gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "config.wsgi:application",
        env=env,
        log=tmp_path / "gunicorn.log",
    )
    try:
        wait_for_port(port, timeout=60)
        base = f"http://127.0.0.1:{port}"

        def healthz_count() -> float:
            with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
                samples = samples_of(response.read().decode())
            return value(
                samples,
                "portal_http_request_duration_seconds_count",
                view="healthz",
                method="GET",
                status="2xx",
            )

        sent = 0

        def both_workers_served() -> bool:
            # Requests a few at a time until each worker has answered some (one idle
            # worker may take every request of a sequential loop).
            nonlocal sent
            with ThreadPoolExecutor(4) as pool:
                list(
                    pool.map(
                        lambda _: urllib.request.urlopen(f"{base}/healthz", timeout=10).close(),
                        range(8),
                    )
                )
            sent += 8
            pids = {p.name.split("_")[-1] for p in (tmp_path / "prometheus").glob("*.db")}
            return len(pids) >= 2

        wait_for(both_workers_served, timeout=60, message="both workers wrote samples")
        # Whichever worker answers the scrape, it reports both workers' requests.
        counts = [healthz_count() for _ in range(6)]
        assert all(count >= sent for count in counts), (counts, sent)
    finally:
        stop(proc, signal.SIGTERM)
    wait_for(lambda: proc.poll() is not None, message="gunicorn stopped")
