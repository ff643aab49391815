"""Self-healing's "gave up" e-mail: each admin their own copy, and a mail server that is
away delays it rather than losing it."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from restarts.healing.engine import healing_sweep
from restarts.healing.models import HealingCase
from restarts.healing.notify import healing_case_notify
from tests.factories import make_charger
from tests.helpers import free_port
from tests.restarts.test_self_healing import fleet  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def gave_up(fleet) -> HealingCase:  # noqa: F811
    charger = make_charger(fleet.site, name="Stædig", is_connected=True)
    return HealingCase.objects.create(
        charger=charger,
        policy_group=fleet.root,
        rule="faulted",
        step="hard",
        outcome="gave_up",
        outcome_detail="still Faulted",
        closed_at=timezone.now(),
    )


def test_each_admin_gets_their_own_copy(fleet):  # noqa: F811
    case = gave_up(fleet)

    assert healing_case_notify(case_id=case.pk)

    assert sorted(m.to for m in mail.outbox) == [["site@example.com"], ["super@example.com"]]
    assert all("Stædig" in m.subject for m in mail.outbox)


def test_a_mail_server_that_is_away_delays_the_email_and_a_later_sweep_sends_it(
    fleet,  # noqa: F811
    settings,
):
    case = gave_up(fleet)
    settings.MAILERS = {  # a real SMTP backend, at a loopback port where nothing listens
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 5},
        }
    }

    assert not healing_case_notify(case_id=case.pk)
    case.refresh_from_db()
    assert case.notified_at is None

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    healing_sweep()
    healing_sweep()  # once told, never again

    case.refresh_from_db()
    assert case.notified_at is not None
    assert sorted(m.to for m in mail.outbox) == [["site@example.com"], ["super@example.com"]]
