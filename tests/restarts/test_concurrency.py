"""Two OKAYs at the same moment (a double click on two connections) create one restart."""

import threading

import pytest
from django.db import connection

from restarts.models import RestartJob, RestartRequest
from restarts.services import RestartRefused, restart_request_create
from tests.restarts.fleet import make_fleet


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_key", [True, False])
def test_simultaneous_okays_create_each_job_once(same_key, restarts_queue):
    fleet = make_fleet()
    ids = [c.pk for c in fleet.ready]
    barrier = threading.Barrier(2)
    outcomes = []

    def press_okay(n):
        try:
            barrier.wait()
            made = restart_request_create(
                user=fleet.admin,
                charger_ids=ids,
                idempotency_key="same" if same_key else f"key-{n}",
            )
            outcomes.append(made.request.pk)
        except RestartRefused as refused:
            outcomes.append(refused.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=press_okay, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert RestartJob.objects.count() == 3
    assert RestartRequest.objects.count() == 1
    if same_key:
        assert outcomes[0] == outcomes[1]  # the twin gets the first one's request
    else:
        assert sorted(map(str, outcomes))[-1] == "restarting"
