"""Checked again when sent, and cancellable: the requester's right at sending time, and
admins cancelling what has not reached the charger (pages, API, audit)."""

import re
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from api import tokens
from restarts.jobs import restart_jobs_claim, restart_jobs_session_ended
from restarts.models import RestartJob
from restarts.services import restart_request_create
from tenancy.models import AuditEvent, Membership

State = RestartJob.State
HTMX = {"HX-Request": "true"}


def start(fleet, chargers, user=None, mode="default"):
    made = restart_request_create(
        user=user or fleet.admin, charger_ids=[c.pk for c in chargers], mode=mode
    )
    return made.request, list(made.request.jobs.order_by("charger__name"))


def refresh(job):
    job.refresh_from_db()
    return job


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue_pair(user).token}"}


# ---- checked again when sent -----------------------------------------------------------


def test_a_requester_who_lost_the_admin_role_has_the_job_cancelled_not_sent(fleet):
    _req, jobs = start(fleet, fleet.ready[:2])
    Membership.objects.filter(user=fleet.admin).update(role=Membership.Role.USER)
    assert restart_jobs_claim(job_ids=[j.pk for j in jobs]) == []
    for job in map(refresh, jobs):
        assert (job.state, job.detail, job.sent_at) == (State.CANCELLED, "not_allowed", None)
        assert job.detail_text.startswith("den, der bad om genstarten, må ikke længere")
        assert job.finished_at is not None


def test_a_requester_removed_or_deactivated_has_the_job_cancelled(fleet):
    _req, (job,) = start(fleet, fleet.ready[:1])
    fleet.admin.is_active = False
    fleet.admin.save()
    assert restart_jobs_claim(job_ids=[job.pk]) == []
    assert refresh(job).state == State.CANCELLED
    _req, (other,) = start(fleet, fleet.ready[1:2], user=fleet.super_admin)
    fleet.super_admin.delete()
    assert restart_jobs_claim(job_ids=[other.pk]) == []
    assert (refresh(other).state, other.detail) == (State.CANCELLED, "not_allowed")


def test_a_bulk_request_whose_business_subscription_ended_is_cancelled_a_single_one_goes(fleet):
    _req, bulk = start(fleet, fleet.ready[:2])
    _req, (single,) = start(fleet, fleet.ready[2:3])
    fleet.org.subscription.valid_until = timezone.now() - timedelta(minutes=1)
    fleet.org.subscription.save()
    claimed = restart_jobs_claim(job_ids=[j.pk for j in [*bulk, single]])
    assert [j.pk for j in claimed] == [single.pk]
    assert {(refresh(j).state, j.detail) for j in bulk} == {(State.CANCELLED, "no_business")}


def test_a_job_held_for_a_session_is_checked_again_when_the_session_ends(fleet):
    _req, (job,) = start(fleet, [fleet.charging])
    assert restart_jobs_claim(job_ids=[job.pk]) == []
    assert refresh(job).state == State.SCHEDULED
    Membership.objects.filter(user=fleet.admin).delete()
    restart_jobs_session_ended(charger_id=fleet.charging.pk, at=timezone.now())
    assert refresh(job).state == State.QUEUED
    assert restart_jobs_claim(job_ids=[job.pk]) == []
    assert (refresh(job).state, job.detail) == (State.CANCELLED, "not_allowed")


def test_a_requester_who_keeps_the_right_is_sent_as_before(fleet):
    _req, jobs = start(fleet, fleet.ready[:2])
    assert len(restart_jobs_claim(job_ids=[j.pk for j in jobs])) == 2


# ---- cancelled by an admin ---------------------------------------------------------------


def test_cancel_takes_only_what_has_not_reached_the_charger_and_audits_it(client, fleet):
    req, jobs = start(fleet, [*fleet.ready, fleet.charging])
    sent, queued_1, queued_2, held = jobs[0], jobs[1], jobs[2], jobs[3]
    restart_jobs_claim(job_ids=[sent.pk, held.pk])  # sent: on the wire; held: scheduled
    assert (refresh(sent).state, refresh(held).state) == (State.SENT, State.SCHEDULED)
    client.force_login(fleet.admin)

    page = client.get(f"/restarts/history/{req.pk}/").content.decode()
    assert re.search(r"<button[^>]*hx-get=\"/restarts/history/\d+/cancel/\"[^>]*>", page)
    assert ">Annullér genstarter</button>" in page
    confirm = client.get(f"/restarts/history/{req.pk}/cancel/", headers=HTMX).content.decode()
    assert 'id="restart-dialog-title"' in confirm and "Annullér genstart" in confirm
    assert "annulleres: 3." in confirm and "kan ikke tages tilbage: 1." in confirm

    response = client.post(f"/restarts/history/{req.pk}/cancel/", headers=HTMX)
    assert response.headers["HX-Redirect"] == f"/restarts/history/{req.pk}/"
    assert [refresh(j).state for j in (sent, queued_1, queued_2, held)] == [
        State.SENT,
        State.CANCELLED,
        State.CANCELLED,
        State.CANCELLED,
    ]
    assert queued_1.detail == "cancelled_by:site-admin"
    assert queued_1.detail_text == "annulleret af site-admin"
    page = client.get(f"/restarts/history/{req.pk}/").content.decode()
    assert "Annulleret: 3. Allerede i gang: 1." in page
    assert "annulleret af site-admin" in page
    assert "Annullér genstarter" not in page  # nothing left to cancel: no button
    event = AuditEvent.objects.get(action="restart.cancelled")
    assert event.actor == fleet.admin and event.group == fleet.site
    assert event.after["underway"] == 1 and len(event.after["cancelled"]) == 3

    # Again: nothing more is cancelled, nothing more audited.
    client.post(f"/restarts/history/{req.pk}/cancel/")
    assert AuditEvent.objects.filter(action="restart.cancelled").count() == 1


def test_a_twin_2_0_1_reset_scheduled_by_the_charger_is_underway_not_cancelled(fleet):
    charger = fleet.ready[0]
    charger.ocpp_version = "2.0.1"
    charger.save()
    req, (job,) = start(fleet, [charger])
    RestartJob.objects.filter(pk=job.pk).update(
        state=State.SCHEDULED, sent_at=timezone.now(), reset_type="OnIdle"
    )
    from restarts.cancel import restart_request_cancel

    done = restart_request_cancel(user=fleet.admin, request_id=req.pk)
    assert (done.cancelled, done.underway) == ([], 1)
    assert refresh(job).state == State.SCHEDULED


def test_cancel_from_a_restarting_chargers_page(client, fleet):
    charger = fleet.ready[0]
    _req, (job,) = start(fleet, [charger])
    client.force_login(fleet.admin)
    page = client.get(f"/chargers/{charger.pk}/").content.decode()
    assert f'hx-get="/restarts/charger/{charger.pk}/cancel/"' in page
    assert ">Annullér genstart</button>" in page
    # Without HTMX the confirmation is a page of its own, with a CSRF-protected form.
    confirm = client.get(f"/restarts/charger/{charger.pk}/cancel/").content.decode()
    assert "csrfmiddlewaretoken" in confirm and ">Annullér genstarter</button>" in confirm
    response = client.post(f"/restarts/charger/{charger.pk}/cancel/")
    assert response.status_code == 302 and response["Location"] == f"/chargers/{charger.pk}/"
    assert refresh(job).state == State.CANCELLED
    page = client.get(f"/chargers/{charger.pk}/").content.decode()
    assert "Genstart annulleret" in page and "Annullér genstart<" not in page


def test_cancel_needs_csrf_and_the_right_to_restart(fleet):
    req, (job,) = start(fleet, fleet.ready[:1])
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(fleet.admin)
    assert strict.post(f"/restarts/history/{req.pk}/cancel/").status_code == 403
    assert strict.post(f"/restarts/charger/{fleet.ready[0].pk}/cancel/").status_code == 403

    plain = Client()
    plain.force_login(fleet.plain)  # sees the charger, may not restart it
    assert plain.get(f"/restarts/history/{req.pk}/cancel/").status_code == 404
    assert plain.post(f"/restarts/history/{req.pk}/cancel/").status_code == 404
    assert plain.post(f"/restarts/charger/{fleet.ready[0].pk}/cancel/").status_code == 403
    outsider = Client()
    outsider.force_login(fleet.basic_admin)  # another organisation: as if nothing existed
    assert outsider.post(f"/restarts/history/{req.pk}/cancel/").status_code == 404
    assert outsider.post(f"/restarts/charger/{fleet.ready[0].pk}/cancel/").status_code == 404
    assert refresh(job).state == State.QUEUED


def test_the_api_cancels_and_says_how_many_were_already_underway(client, fleet):
    req, jobs = start(fleet, fleet.ready[:2])
    restart_jobs_claim(job_ids=[jobs[0].pk])
    url = f"/api/v1/restarts/{req.pk}/cancel"
    body = client.post(url, **bearer(fleet.admin)).json()
    assert (body["cancelled"], body["underway"]) == ([jobs[1].pk], 1)
    states = {j["id"]: (j["state"], j["final"], j["outcome"]) for j in body["jobs"]}
    assert states == {jobs[0].pk: ("sent", False, None), jobs[1].pk: ("cancelled", True, "neutral")}
    again = client.post(url, **bearer(fleet.admin)).json()
    assert (again["cancelled"], again["underway"]) == ([], 1)
    assert client.post(url, **bearer(fleet.plain)).status_code == 404
    assert client.post("/api/v1/restarts/999999/cancel", **bearer(fleet.admin)).status_code == 404
    # A browser session must send the CSRF token.
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(fleet.admin)
    assert browser.post(url).status_code == 403
