"""The summary e-mail: when a restart request with a failure ends, its requester hears once.

The beat runs `restart_summaries_send` (task `restarts.send_summaries`, every
RESTART_SUMMARY_INTERVAL seconds). Each request whose jobs have all ended is claimed
with one conditional UPDATE (`summarised_at IS NULL AND NOT EXISTS (an unfinished
job)`); a second worker or beat run waits on that row and then finds it claimed, so
there is exactly one e-mail per request. The claim and the sending share a
transaction: if the mail server refuses, the claim is undone and the next run tries
again. Requests that ended without a failure are claimed too, and mail nobody.
An e-mail that can never go (Django cannot build it for the requester's address, or
the server refuses every recipient) is given up with the claim kept: undone, it would
stand first in every run and stop the summaries of everyone after it.

The e-mail speaks the language the request was made in (`RestartRequest.language`;
users have no stored language) and names only chargers the requester still manages.
"""

from __future__ import annotations

import copy
import logging
import smtplib
from urllib.parse import urljoin

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from restarts.models import RestartJob, RestartRequest
from restarts.progress import Progress, progress_of, states_with
from restarts.selectors import jobs_in_scope

log = logging.getLogger(__name__)

# Chargers listed by name in one e-mail; the rest are counted (the link shows all).
LISTED = 100
BATCH = 200


def _undeliverable(exc: Exception, message) -> bool:
    """A failure of this one e-mail, not of the mail server or our settings, that trying
    again cannot help: Django cannot build it for the requester's address (the same
    e-mail to a plain address builds), or the server refused every recipient for good
    (5xx; a 4xx such as greylisting is worth another try). A bad DEFAULT_FROM_EMAIL
    fails every e-mail alike: that is retried, never given up."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _text in exc.recipients.values())
    if not isinstance(exc, ValueError):
        return False
    probe = copy.copy(message)
    probe.to = ["summary-probe@example.invalid"]
    try:
        probe.message()
    except ValueError:
        return False
    return True


def _running():
    """A job not final yet: under way, or planned for later (the request has not ended)."""
    unfinished = RestartJob.State.unfinished()
    return Exists(RestartJob.objects.filter(request=OuterRef("pk"), state__in=unfinished))


def restart_summaries_send() -> list[int]:
    """Claim every request that has ended and is not summed up; mail the ones with failures.

    Returns the ids of the requests an e-mail went out for."""
    ended = (
        RestartRequest.objects.filter(summarised_at__isnull=True)
        .filter(~_running())
        .order_by("requested_at")
        .values_list("pk", flat=True)[:BATCH]
    )
    sent = []
    for pk in list(ended):
        try:
            if _summarise(pk):
                sent.append(pk)
        except Exception:  # the mail server: the claim is undone; the next run tries again
            # Stop here: with the server down, each further try would wait its timeout.
            log.exception("summary e-mail of restart request %s not sent; will retry", pk)
            break
    return sent


@transaction.atomic
def _summarise(pk: int) -> bool:
    claimed = (
        RestartRequest.objects.filter(pk=pk, summarised_at__isnull=True)
        .filter(~_running())
        .update(summarised_at=timezone.now())
    )
    if not claimed:  # another worker has it, or a job is under way again
        return False
    restart_request = RestartRequest.objects.select_related("requested_by").get(pk=pk)
    user = restart_request.requested_by
    if user is None or not user.is_active or not user.email:
        return False
    jobs = jobs_in_scope(user, restart_request)
    progress = progress_of(jobs)
    if not progress.failed:
        return False
    message = summary_email(restart_request, jobs, progress)
    try:
        message.send()
    except Exception as exc:
        if not _undeliverable(exc, message):
            raise
        log.exception(
            "summary e-mail of restart request %s cannot be delivered to user %s; given up",
            pk,
            user.pk,
        )
        return False
    log.info("summary e-mail of restart request %s sent to user %s", pk, user.pk)
    return True


def summary_email(restart_request: RestartRequest, jobs, progress: Progress):
    """The e-mail, rendered in the request's language."""
    user = restart_request.requested_by
    failed, warned = _listed(jobs, "failure"), _listed(jobs, "warning")
    # Times in the organisation's time zone, as in the CSV.
    tz = failed[0].charger.group.organisation.tzinfo if failed else None
    tz = tz or timezone.get_default_timezone()
    url = urljoin(settings.SITE_ROOT, reverse("restarts:history_detail", args=[restart_request.pk]))
    with translation.override(restart_request.language), timezone.override(tz):
        context = {
            "restart_request": restart_request,
            "progress": progress,
            "failed": failed,
            "failed_more": progress.failed - len(failed),
            "warned": warned,
            "warned_more": progress.warned - len(warned),
            "url": url,
            "csv_url": url + "export.csv",
        }
        subject = render_to_string("restarts/summary_subject.txt", context)
        body = render_to_string("restarts/summary_email.txt", context)
    return EmailMultiAlternatives(" ".join(subject.split()), body, to=[user.email])


def _listed(jobs, outcome: str) -> list[RestartJob]:
    """The first LISTED jobs with `outcome`, by charger name."""
    return list(
        jobs.filter(state__in=states_with(outcome))
        .select_related("charger__group__organisation")
        .order_by("charger__name", "pk")[:LISTED]
    )
