"""GET /api/v1/restarts/{id} says how far the request has come, as the Opladere bar does."""

from restarts.models import RestartJob
from tests.api.conftest import bearer
from tests.restarts.test_exports import make_request

State = RestartJob.State


def test_a_request_tells_its_progress_by_outcome_over_the_callers_chargers(client, rfleet):
    f = rfleet
    restart = make_request(f.super_admin, [*f.ready, f.elsewhere], State.SENT)
    jobs = {job.charger.name: job for job in restart.jobs.select_related("charger")}
    RestartJob.objects.filter(pk=jobs["Syd 01"].pk).update(state=State.DONE)
    RestartJob.objects.filter(pk=jobs["Syd 02"].pk).update(state=State.UNCONFIRMED)
    RestartJob.objects.filter(pk=jobs["Havnen 01"].pk).update(state=State.NO_ANSWER)

    body = client.get(f"/api/v1/restarts/{restart.pk}", **bearer(f.admin)).json()
    assert body["progress"] == {
        "total": 3,  # Havnen 01 is not the site admin's
        "restarted": 1,
        "not_confirmed": 1,  # counted apart, never as restarted
        "failed": 0,
        "cancelled": 0,
        "in_progress": 1,
        "planned": 0,
        "text": "1 af 3 genstartet · 0 mislykkedes · 1 ikke bekræftet · 1 i gang",
    }
    body = client.get(f"/api/v1/restarts/{restart.pk}", **bearer(f.super_admin)).json()
    assert (body["progress"]["total"], body["progress"]["failed"]) == (4, 1)


def test_a_planned_requests_progress_counts_every_job_once(client, rfleet):
    f = rfleet
    restart = make_request(f.admin, f.ready, State.PLANNED)
    RestartJob.objects.filter(request=restart, charger=f.ready[0]).update(state=State.CANCELLED)

    progress = client.get(f"/api/v1/restarts/{restart.pk}", **bearer(f.admin)).json()["progress"]
    assert (progress["total"], progress["planned"], progress["in_progress"]) == (3, 2, 0)
    counted = ("restarted", "not_confirmed", "failed", "cancelled", "in_progress", "planned")
    assert sum(progress[name] for name in counted) == progress["total"]
    assert progress["text"] == "0 af 3 genstartet · 0 mislykkedes · 1 annulleret · 2 planlagt"
