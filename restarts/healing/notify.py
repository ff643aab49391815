"""One e-mail to a group's admins when self-healing could not heal a charger.

Sent once per case (a conditional update claims it), after the case is closed: the
charger, what was tried and what each step came to, and why it stopped. Each admin gets
their own copy. When the mail server is away the claim is given back and the next sweeps
try again for a day (an e-mail the server took before a failure may then come twice).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urljoin

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from restarts.healing.models import HealingCase
from tenancy.models import Membership

log = logging.getLogger(__name__)
# How long an unsent e-mail of a case is tried again by the sweeps.
RETRY_FOR = timedelta(days=1)


def admins_of(group) -> list[str]:
    """E-mail addresses of the admins and super-admins over `group` (ancestors included)."""
    return sorted(
        set(
            Membership.objects.filter(
                group_id__in=group.ancestor_ids(),
                role__in=Membership.MANAGING_ROLES,
                user__is_active=True,
            )
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )


def healing_case_notify(*, case_id: int) -> bool:
    """Tell the charger's admins that its case ended unhealed; at most once. True if sent."""
    claimed = HealingCase.objects.filter(
        pk=case_id, outcome__in=HealingCase.NOT_HEALED, notified_at__isnull=True
    ).update(notified_at=timezone.now())
    if not claimed:
        return False
    case = HealingCase.objects.select_related("charger__group__organisation").get(pk=case_id)
    recipients = admins_of(case.charger.group)
    if not recipients:
        log.warning("self-healing case %s: no admin with an e-mail address to tell", case_id)
        return False
    with translation.override(settings.LANGUAGE_CODE):
        url = urljoin(settings.SITE_ROOT, reverse("chargers:detail", args=[case.charger_id]))
        context = {
            "case": case,
            "charger": case.charger,
            "attempts": attempts_in_words(case),
            "url": url,
        }
        subject = render_to_string("restarts/healing/gave_up_subject.txt", context)
        body = render_to_string("restarts/healing/gave_up_email.txt", context)
    # One e-mail per admin: nobody learns the others' addresses.
    subject = " ".join(subject.split())
    messages = [EmailMessage(subject, body, to=[address]) for address in recipients]
    try:
        mailers.default.send_messages(messages)
    except Exception:
        # The mail server is away: give the claim back, the next sweep tries again.
        HealingCase.objects.filter(pk=case_id).update(notified_at=None)
        log.exception(
            "self-healing case %s: e-mail to %d admins not sent; will retry",
            case_id,
            len(recipients),
        )
        return False
    return True


def healing_cases_notify_unsent(now) -> int:
    """Tell the admins of cases closed unhealed in the last day whose e-mail did not go
    (the mail server was away); returns how many were sent now."""
    unsent = HealingCase.objects.filter(
        outcome__in=HealingCase.NOT_HEALED,
        notified_at__isnull=True,
        closed_at__gte=now - RETRY_FOR,
    ).values_list("pk", flat=True)
    return sum(healing_case_notify(case_id=pk) for pk in unsent)


def attempts_in_words(case: HealingCase) -> list[dict]:
    """The case's steps for pages and e-mails: step name, when, what came of it."""
    steps = dict(HealingCase.Step.choices)
    probe_words = {
        "answered": translation.gettext("answered"),
        "no_answer": translation.gettext("no answer"),
        "not_connected": translation.gettext("not connected"),
    }
    rows = []
    for attempt in case.attempts:
        state = attempt.get("state", "")
        if attempt.get("step") == HealingCase.Step.PROBE:
            result = probe_words.get(state, state)
        else:
            result = attempt.get("text") or state
            if attempt.get("reset_type"):
                result = f"{attempt['reset_type']}: {result}"
        rows.append(
            {
                "step": steps.get(attempt.get("step"), attempt.get("step")),
                "at": _when(attempt.get("at")),
                "result": result,
                "request": attempt.get("request"),
            }
        )
    return rows


def _when(value):
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
