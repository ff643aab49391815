"""restart_request_create: the second check on OKAY, idempotency, refusals, what is written."""

import base64
import json

import pytest
from django.db import IntegrityError, transaction

from restarts.models import RestartJob, RestartRequest
from restarts.services import RestartRefused, restart_request_create
from tenancy.models import AuditEvent


def queued_tasks(client) -> list[tuple[str, list]]:
    """(task name, args) of each message waiting on the "restarts" queue, oldest first."""
    found = []
    for raw in reversed(client.lrange("restarts", 0, -1)):  # kombu LPUSHes, workers pop the tail
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], [sorted(a) for a in args]))
    return found


def create(user, chargers, **kwargs):
    return restart_request_create(user=user, charger_ids=[c.pk for c in chargers], **kwargs).request


def test_okay_writes_one_request_one_job_per_charger_an_audit_event_and_enqueues_them(
    fleet, restarts_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        made = create(fleet.admin, fleet.ready, idempotency_key="k1", ip="203.0.113.7")
    assert made.requested_by == fleet.admin
    assert made.ip_address == "203.0.113.7"
    assert made.source == "web" and made.mode == "default"
    assert made.asked_ids == [c.pk for c in fleet.ready]
    jobs = list(made.jobs.order_by("charger_id"))
    assert [j.charger_id for j in jobs] == [c.pk for c in fleet.ready]
    assert {j.state for j in jobs} == {"queued"}
    assert all(j.released_at for j in jobs)  # within the wave: sent on their way
    event = AuditEvent.objects.get(action="restart.requested")
    assert event.actor == fleet.admin and event.group == fleet.site
    assert event.ip_address == "203.0.113.7"
    # One message for the chunk, carrying every job: not one message per charger.
    assert queued_tasks(restarts_queue) == [("restarts.send_resets", [sorted(j.pk for j in jobs)])]


def test_nothing_is_enqueued_when_the_transaction_does_not_commit(fleet, restarts_queue):
    with pytest.raises(RuntimeError), transaction.atomic():
        create(fleet.admin, fleet.ready)
        raise RuntimeError("rolled back")
    assert not RestartRequest.objects.exists()
    assert restarts_queue.llen("restarts") == 0


def test_okay_checks_again_and_leaves_out_what_changed_since_the_window(fleet):
    fleet.ready[0].is_connected = False
    fleet.ready[0].save(update_fields=["is_connected"])
    made = create(fleet.admin, fleet.ready)
    assert sorted(made.jobs.values_list("charger_id", flat=True)) == sorted(
        c.pk for c in fleet.ready[1:]
    )
    assert made.asked_ids == [c.pk for c in fleet.ready]


def test_okay_refuses_when_nothing_is_left_and_writes_nothing(fleet):
    with pytest.raises(RestartRefused) as refused:
        create(fleet.admin, [fleet.offline])
    assert refused.value.code == "not_connected"
    assert "ikke forbundet" in refused.value.message
    assert not RestartRequest.objects.exists() and not RestartJob.objects.exists()


def test_the_same_window_posted_twice_creates_nothing_twice(fleet):
    first = create(fleet.admin, fleet.ready, idempotency_key="window-1")
    second = create(fleet.admin, fleet.ready, idempotency_key="window-1")
    assert second.pk == first.pk
    assert RestartRequest.objects.count() == 1
    assert RestartJob.objects.count() == 3


def test_a_new_window_for_chargers_already_restarting_is_refused(fleet):
    create(fleet.admin, fleet.ready, idempotency_key="window-1")
    with pytest.raises(RestartRefused) as refused:
        create(fleet.admin, fleet.ready, idempotency_key="window-2")
    assert refused.value.code == "restarting"
    assert RestartJob.objects.count() == 3


def test_a_plain_user_is_refused_before_anything_is_looked_at(fleet):
    with pytest.raises(RestartRefused) as refused:
        create(fleet.plain, fleet.ready, idempotency_key="k")
    assert refused.value.code == "not_allowed"
    assert not RestartRequest.objects.exists()


def test_ids_of_another_organisation_get_a_refusal_that_says_only_not_found(fleet):
    with pytest.raises(RestartRefused) as refused:
        create(fleet.admin, [fleet.foreign, fleet.elsewhere])
    assert refused.value.code == "not_found"
    assert fleet.foreign.name not in refused.value.message
    assert fleet.elsewhere.name not in refused.value.message
    assert not RestartJob.objects.exists()


def test_several_chargers_without_business_are_refused_one_is_allowed(fleet):
    with pytest.raises(RestartRefused) as refused:
        create(fleet.basic_admin, fleet.basic)
    assert refused.value.code == "no_business"
    made = create(fleet.basic_admin, fleet.basic[:1])
    assert made.jobs.count() == 1


def test_an_unknown_mode_is_refused(fleet):
    with pytest.raises(RestartRefused):
        create(fleet.admin, fleet.ready, mode="sideways")


def test_the_database_allows_one_unfinished_job_per_charger(fleet):
    made = create(fleet.admin, fleet.ready[:1])
    with pytest.raises(IntegrityError), transaction.atomic():
        RestartJob.objects.create(request=made, charger=fleet.ready[0])
    RestartJob.objects.filter(request=made).update(state="done")
    RestartJob.objects.create(request=made, charger=fleet.ready[0])  # finished ones don't count


def test_the_database_allows_one_request_per_idempotency_key_and_user(fleet):
    create(fleet.admin, fleet.ready[:1], idempotency_key="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        RestartRequest.objects.create(
            requested_by=fleet.admin,
            requested_by_name="a",
            source="web",
            mode="default",
            idempotency_key="k",
        )


def test_the_api_source_uses_the_same_rules(fleet):
    made = create(fleet.admin, fleet.ready[:2], source="api", idempotency_key="api-1")
    assert made.source == "api" and made.jobs.count() == 2
