"""RestartJob.objects.move: the one conditional state change, on PostgreSQL and on SQLite."""

import os
import threading
import time

import pytest
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from restarts.models import RestartJob, RestartRequest
from tests.factories import make_charger, make_group
from tests.helpers import manage

State = RestartJob.State


def make_jobs(n: int) -> list[RestartJob]:
    group = make_group()
    request = RestartRequest.objects.create(requested_by_name="t", source="web", mode="default")
    return [
        RestartJob.objects.create(request=request, charger=make_charger(group)) for _ in range(n)
    ]


def hold_until_another_waits_for_the_lock(timeout: float = 10.0) -> None:
    """Inside a transaction that holds a row lock: return once another session is
    waiting for a lock (the concurrent move under test), so the race is really run,
    however slow the machine; fail if none comes."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the concurrent move never waited for the row lock")


def states(jobs) -> list[str]:
    by_pk = dict(RestartJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("pk", "state"))
    return [by_pk[j.pk] for j in jobs]


@pytest.mark.django_db
def test_move_changes_only_jobs_still_in_the_from_state_and_returns_their_ids():
    jobs = make_jobs(3)
    RestartJob.objects.filter(pk=jobs[1].pk).update(state=State.DONE)
    now = timezone.now()

    moved = RestartJob.objects.filter(pk__in=[j.pk for j in jobs]).move(
        State.QUEUED, State.SENT, sent_at=now, reset_type="Soft"
    )

    assert moved == [jobs[0].pk, jobs[2].pk]
    assert states(jobs) == [State.SENT, State.DONE, State.SENT]
    job = RestartJob.objects.get(pk=jobs[0].pk)
    assert job.sent_at == now and job.reset_type == "Soft"
    # Moved on: a second move from the old state finds nothing.
    assert RestartJob.objects.filter(pk__in=[j.pk for j in jobs]).move(State.QUEUED, "x") == []


@pytest.mark.django_db
def test_move_takes_several_from_states_and_chained_filters():
    jobs = make_jobs(3)
    RestartJob.objects.filter(pk=jobs[0].pk).update(state=State.SENT)
    RestartJob.objects.filter(pk=jobs[1].pk).update(state=State.ACCEPTED)
    group_of_last = jobs[2].charger.group_id

    moved = (
        RestartJob.objects.filter(charger__group_id=group_of_last)
        .exclude(pk=jobs[2].pk)
        .move([State.SENT, State.ACCEPTED], State.DONE, finished_at=timezone.now())
    )

    assert moved == [jobs[0].pk, jobs[1].pk]
    assert states(jobs) == [State.DONE, State.DONE, State.QUEUED]
    assert RestartJob.objects.none().move(State.QUEUED, State.SENT) == []


@pytest.mark.django_db(transaction=True)
def test_a_move_waits_for_a_concurrent_move_and_then_leaves_the_job_alone():
    (job,) = make_jobs(1)
    first_moved = threading.Event()
    results: dict[str, list[int]] = {}

    def boot():  # holds its move uncommitted for a moment
        try:
            with transaction.atomic():
                results["boot"] = RestartJob.objects.filter(pk=job.pk).move(
                    State.QUEUED, State.DONE
                )
                first_moved.set()
                hold_until_another_waits_for_the_lock()
        finally:
            connections.close_all()

    thread = threading.Thread(target=boot)
    thread.start()
    assert first_moved.wait(10)
    results["answer"] = RestartJob.objects.filter(pk=job.pk).move(State.QUEUED, State.SENT)
    thread.join(10)
    close_old_connections()

    assert results == {"boot": [job.pk], "answer": []}
    assert states([job]) == [State.DONE]


@pytest.mark.django_db(transaction=True)
def test_a_move_filtered_across_a_join_still_leaves_a_job_that_moved_on_meanwhile():
    """The deadline sweep's shape: `charger__…` in the filter. The state test must be
    decided when the row is written, not in a subquery before waiting for its lock."""
    (job,) = make_jobs(1)
    RestartJob.objects.filter(pk=job.pk).update(state=State.ACCEPTED, sent_at=timezone.now())
    first_moved = threading.Event()
    results: dict[str, list[int]] = {}

    def deadline():  # gives up on the job and holds that uncommitted for a moment
        try:
            with transaction.atomic():
                results["deadline"] = RestartJob.objects.filter(pk=job.pk).move(
                    State.ACCEPTED, State.NOT_BACK
                )
                first_moved.set()
                hold_until_another_waits_for_the_lock()
        finally:
            connections.close_all()

    thread = threading.Thread(target=deadline)
    thread.start()
    assert first_moved.wait(10)
    results["boot"] = RestartJob.objects.filter(
        pk=job.pk, charger__group_id=job.charger.group_id
    ).move(State.ACCEPTED, State.DONE)
    thread.join(10)
    close_old_connections()

    assert results == {"deadline": [job.pk], "boot": []}
    assert states([job]) == [State.NOT_BACK]


SQLITE_SCRIPT = """
from restarts.models import RestartJob, RestartRequest
from tests.factories import make_charger
request = RestartRequest.objects.create(requested_by_name="t", source="web", mode="default")
jobs = [RestartJob.objects.create(request=request, charger=make_charger()) for _ in range(2)]
RestartJob.objects.filter(pk=jobs[1].pk).update(state="done")
ids = [j.pk for j in jobs]
print("moved", RestartJob.objects.filter(pk__in=ids).move("queued", "sent") == ids[:1])
print("again", RestartJob.objects.filter(pk__in=ids).move("queued", "sent") == [])
"""


def test_move_works_on_sqlite_as_make_run_uses_it(tmp_path):
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'move.sqlite3'}")
    assert manage("migrate", "--noinput", "-v0", env=env).returncode == 0
    result = manage("shell", "-c", SQLITE_SCRIPT, env=env)
    assert result.returncode == 0, result.stderr
    assert "moved True" in result.stdout and "again True" in result.stdout
