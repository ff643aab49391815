"""The summary e-mail: a request that ends with a failure mails its requester, exactly once."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, transaction

from config.celery import app
from restarts.models import RestartJob, RestartRequest
from restarts.summaries import restart_summaries_send
from tests.helpers import free_port
from tests.restarts.fleet import make_fleet
from tests.restarts.test_exports import make_request

State = RestartJob.State
ONE_MINUTE = timedelta(minutes=1)


def finish(restart, state, **fields):
    restart.jobs.filter(state__in=State.unfinished()).update(state=state, **fields)


@pytest.fixture
def mailed_admin(fleet):
    fleet.admin.email = "site-admin@example.com"
    fleet.admin.save(update_fields=["email"])
    return fleet.admin


def test_a_request_that_ends_with_a_failure_mails_its_requester_once(fleet, mailed_admin):
    restart = make_request(mailed_admin, fleet.ready, State.DONE)
    job = restart.jobs.get(charger=fleet.ready[1])
    job.state, job.detail = State.NO_ANSWER, "no_result"
    job.save(update_fields=["state", "detail"])

    assert restart_summaries_send() == [restart.pk]
    assert restart_summaries_send() == []  # the next beat run: already summed up

    [message] = mail.outbox
    assert message.to == ["site-admin@example.com"]
    assert message.subject == "Genstart 01.07.2026 12:00: 1 af 3 mislykkedes"
    assert "2 af 3 genstartet · 1 mislykkedes" in message.body
    assert "- Syd 02 (CP-" in message.body
    assert "P-hus Syd): Intet svar: opladeren svarede ikke i tide" in message.body
    assert "Syd 01" not in message.body  # restarted: counted, not listed
    assert f"http://127.0.0.1:8000/restarts/history/{restart.pk}/\n" in message.body
    assert f"http://127.0.0.1:8000/restarts/history/{restart.pk}/export.csv" in message.body
    restart.refresh_from_db()
    assert restart.summarised_at is not None


def test_the_beat_runs_the_summaries(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["restarts-send-summaries"]
    assert entry["task"] == "restarts.send_summaries" in app.tasks


def test_nothing_is_sent_while_a_job_is_under_way_and_the_end_is_told_when_it_comes(
    fleet, mailed_admin
):
    restart = make_request(mailed_admin, fleet.ready[:1], State.REJECTED)
    RestartJob.objects.create(request=restart, charger=fleet.ready[1], state=State.SENT)
    assert restart_summaries_send() == []
    assert mail.outbox == []

    finish(restart, State.DONE)
    assert restart_summaries_send() == [restart.pk]
    assert "1 af 2 genstartet · 1 mislykkedes" in mail.outbox[0].body


def test_a_planned_request_is_not_summed_up_before_it_has_run(fleet, mailed_admin):
    restart = make_request(mailed_admin, fleet.ready[:1], State.REJECTED)
    RestartJob.objects.create(request=restart, charger=fleet.ready[1], state=State.PLANNED)
    assert restart_summaries_send() == []
    restart.refresh_from_db()
    assert restart.summarised_at is None  # its failure is told once the planned one ends

    finish(restart, State.NOT_BACK)
    assert restart_summaries_send() == [restart.pk]
    assert "0 af 2 genstartet · 2 mislykkedes" in mail.outbox[0].body


def test_a_request_without_failures_is_summed_up_without_an_email(fleet, mailed_admin):
    restart = make_request(mailed_admin, fleet.ready, State.DONE)
    assert restart_summaries_send() == []
    assert mail.outbox == []
    restart.refresh_from_db()
    assert restart.summarised_at is not None  # never looked at again


def test_the_email_speaks_the_language_the_request_was_made_in(client, fleet, mailed_admin):
    client.force_login(mailed_admin)
    response = client.post(
        "/restarts/confirm/",
        {"charger": [fleet.ready[0].pk], "idempotency_key": "en-1"},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 302
    restart = RestartRequest.objects.get()
    assert restart.language == "en"
    finish(restart, State.NOT_BACK, detail="no_boot")

    assert restart_summaries_send() == [restart.pk]
    [message] = mail.outbox
    assert message.subject.endswith(": 1 of 1 failed")
    assert "0 of 1 restarted · 1 failed" in message.body
    assert "Did not come back: no BootNotification in time" in message.body


def test_the_email_names_only_chargers_the_requester_still_manages(fleet, mailed_admin):
    restart = make_request(mailed_admin, [*fleet.ready[:1], fleet.elsewhere], State.SKIPPED)
    assert restart_summaries_send() == [restart.pk]
    [message] = mail.outbox
    assert "Syd 01" in message.body
    assert fleet.elsewhere.name not in message.body
    assert "0 af 1 genstartet · 1 mislykkedes" in message.body


def test_when_the_mail_server_refuses_the_claim_is_undone_and_the_next_run_sends(
    fleet, mailed_admin, settings, caplog
):
    restart = make_request(mailed_admin, fleet.ready[:1], State.REJECTED)
    later = make_request(mailed_admin, fleet.ready[1:2], State.REJECTED)
    settings.MAILERS = {  # a real SMTP backend, at a loopback port where nothing listens
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 5},
        }
    }
    assert restart_summaries_send() == []
    restart.refresh_from_db()
    assert restart.summarised_at is None
    # The run stopped at the first refusal rather than wait on the server for each.
    tried = [r for r in caplog.records if "not sent; will retry" in r.getMessage()]
    assert [r.getMessage() for r in tried] == [
        f"summary e-mail of restart request {restart.pk} not sent; will retry"
    ]

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    assert restart_summaries_send() == [restart.pk, later.pk]
    assert len(mail.outbox) == 2


def test_an_address_no_mail_can_reach_is_given_up_and_does_not_stop_the_others(
    fleet, mailed_admin, caplog
):
    # Its e-mail can never be built (Django refuses a line break in a header): undoing
    # the claim would put it first in every run, and nobody would get a summary again.
    fleet.super_admin.email = "broken\n@example.com"
    fleet.super_admin.save(update_fields=["email"])
    stuck = make_request(fleet.super_admin, fleet.ready[:1], State.REJECTED)
    later = make_request(mailed_admin, fleet.ready[1:2], State.REJECTED)
    RestartRequest.objects.filter(pk=later.pk).update(requested_at=later.requested_at + ONE_MINUTE)

    assert restart_summaries_send() == [later.pk]
    assert [message.to for message in mail.outbox] == [["site-admin@example.com"]]
    stuck.refresh_from_db()
    assert stuck.summarised_at is not None  # given up, not tried again on every run
    assert any("cannot be delivered" in r.getMessage() for r in caplog.records)
    assert restart_summaries_send() == []


def test_a_sender_address_that_breaks_every_email_is_retried_not_given_up(
    fleet, mailed_admin, settings
):
    restart = make_request(mailed_admin, fleet.ready[:1], State.REJECTED)
    settings.DEFAULT_FROM_EMAIL = "portal\n@example.com"  # our mistake, not the requester's
    assert restart_summaries_send() == []
    restart.refresh_from_db()
    assert restart.summarised_at is None

    settings.DEFAULT_FROM_EMAIL = "portal@example.com"
    assert restart_summaries_send() == [restart.pk]


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        # pg_locks, not pg_stat_activity: the latter is a snapshot for the transaction
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_worker", ["sends", "fails"])
def test_two_workers_at_once_give_exactly_one_email(first_worker):
    fleet = make_fleet()
    fleet.admin.email = "site-admin@example.com"
    fleet.admin.save(update_fields=["email"])
    restart = make_request(fleet.admin, fleet.ready[:2], State.NO_ANSWER)
    second: list = []

    def second_worker():
        try:
            second.extend(restart_summaries_send())
        finally:
            connection.close()

    with transaction.atomic():
        # The first worker claims the request, as _summarise does, and is still sending.
        assert (
            RestartRequest.objects.filter(pk=restart.pk, summarised_at__isnull=True).update(
                summarised_at="2026-07-01T12:00:00Z"
            )
            == 1
        )
        thread = threading.Thread(target=second_worker)
        thread.start()
        while not _waiting_on_a_lock():  # the second worker's claim waits for our row
            thread.join(0.05)
        if first_worker == "fails":
            transaction.set_rollback(True)  # its mail server refused: the claim is undone
    thread.join(30)

    if first_worker == "sends":
        assert second == [] and mail.outbox == []  # the first worker's e-mail is the one
    else:
        assert second == [restart.pk] and len(mail.outbox) == 1
