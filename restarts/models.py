"""Restart requests and the one job per charger that carries each restart through its states.

    queued → sent → accepted → done
    side exits: rejected, no_answer, not_back, skipped, scheduled (→ accepted/queued → …)

Every transition is a conditional move (`RestartJob.objects.filter(…).move(from_, to)`),
written to the database before anyone is shown it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chargers.models import Charger


class RestartRequest(models.Model):
    """What somebody asked for: who, when, from where, which ids, how."""

    class Mode(models.TextChoices):
        DEFAULT = "default", _("When idle")
        NOW = "now", _("Now")

    class Source(models.TextChoices):
        WEB = "web", _("Web")
        API = "api", _("API")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="restart_requests",
        verbose_name=_("who"),
    )
    requested_by_name = models.CharField(_("who (name)"), max_length=150)
    requested_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    ip_address = models.GenericIPAddressField(_("from"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices)
    # The ids as asked, including ones that were left out (never shown to others).
    asked_ids = models.JSONField(_("asked for"), default=list)
    idempotency_key = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        verbose_name = _("restart request")
        verbose_name_plural = _("restart requests")
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="restartrequest_unique_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.requested_at:%Y-%m-%d %H:%M} {self.requested_by_name}"


class RestartJobQuerySet(models.QuerySet):
    def move(self, from_, to: str, **fields) -> list[int]:
        """Move the jobs here that are in state `from_` (one or several) to `to`; set `fields`.

        The one way a job changes state. Returns the ids it moved: a job another
        worker, the gateway or the beat already moved on is left alone and not
        returned. One statement, `UPDATE … WHERE state IN (…) AND id IN (the jobs
        here) RETURNING id`: the state test stands in the UPDATE's own WHERE, which
        PostgreSQL checks again on a row it had to wait for (a filter across a join
        alone would be decided in the subquery, before the wait), so a row moves
        only if it is still in `from_` when it is written, in one round trip (the
        gateway confirms a boot per charger with it, in storms). Django's public
        `update()` returns a count; `_update()` is the ORM's own UPDATE … RETURNING
        (what `save()` uses), so expressions in `fields` compile as in `update()`.
        Needs a backend that returns rows from an UPDATE: PostgreSQL, SQLite ≥ 3.35.
        """
        from_ = [from_] if isinstance(from_, str) else list(from_)
        opts = self.model._meta
        values = [
            (opts.get_field(name), None, value) for name, value in {"state": to, **fields}.items()
        ]
        jobs = self.model._base_manager.using(self.db).filter(
            state__in=from_, pk__in=self.values("pk")
        )
        try:
            rows = jobs._update(values, returning_fields=[opts.pk])
        except EmptyResultSet:  # `none()`, `pk__in=[]`: nothing to move, no query
            return []
        return sorted(row[0] for row in rows)

    move.alters_data = True


class RestartJob(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        ACCEPTED = "accepted", _("Accepted")
        SCHEDULED = "scheduled", _("Restarts when charging ends")
        DONE = "done", _("Done")
        REJECTED = "rejected", _("Rejected")
        NO_ANSWER = "no_answer", _("No answer")
        NOT_BACK = "not_back", _("Did not come back")
        SKIPPED = "skipped", _("Skipped")

    UNFINISHED = (State.QUEUED, State.SENT, State.ACCEPTED, State.SCHEDULED)
    # The charger is going through (or about to go through) a reset right now.
    RESETTING = (State.QUEUED, State.SENT, State.ACCEPTED)
    FAILED = (State.REJECTED, State.NO_ANSWER, State.NOT_BACK, State.SKIPPED)
    # Why a job ended without a reset (its `detail` code); shown translated on the row
    # and in the history. Any other detail is the charger's own words, shown as recorded.
    DETAILS = {
        "not_connected": _("not connected"),
        "no_remote_restart": _("cannot be restarted remotely"),
        "no_result": _("the charger did not answer in time"),
        "no_boot": _("no BootNotification in time"),
        "session_did_not_end": _("the charging session did not end in time"),
    }

    class Confirmation(models.TextChoices):
        BOOT = "boot", _("BootNotification")
        TRIGGER = "trigger", _("BootNotification on request")
        STATUS = "status", _("Status after reconnecting")

    request = models.ForeignKey(
        RestartRequest, on_delete=models.CASCADE, related_name="jobs", verbose_name=_("request")
    )
    charger = models.ForeignKey(
        Charger, on_delete=models.CASCADE, related_name="restart_jobs", verbose_name=_("charger")
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.QUEUED)
    reset_type = models.CharField(_("reset type"), max_length=16, blank=True)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    confirmed_by = models.CharField(
        _("confirmed by"), max_length=16, choices=Confirmation.choices, blank=True
    )
    # The reason the confirming BootNotification gave (2.0.1: RemoteReset, PowerUp, …).
    boot_reason = models.CharField(_("boot reason"), max_length=32, blank=True)

    created_at = models.DateTimeField(_("queued at"), default=timezone.now)
    # Set when the dispatcher gave the job a slot in its group's wave.
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    # When a worker took it for sending (queued → sent); the Reset leaves after this.
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    # The gateway's stamps: when the Reset frame was written to the charger's socket,
    # and when the charger's answer (CallResult or CallError) arrived.
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    scheduled_at = models.DateTimeField(_("scheduled at"), null=True, blank=True)
    trigger_sent_at = models.DateTimeField(_("boot requested at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = RestartJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("restart job")
        verbose_name_plural = _("restart jobs")
        constraints = [
            models.UniqueConstraint(
                fields=["charger"],
                condition=Q(state__in=["queued", "sent", "accepted", "scheduled"]),
                name="restartjob_one_unfinished_per_charger",
            )
        ]
        indexes = [
            models.Index(
                fields=["state", "created_at"],
                condition=Q(state__in=["queued", "sent", "accepted", "scheduled"]),
                name="restartjob_unfinished",
            ),
            models.Index(fields=["charger", "-created_at"], name="restartjob_charger_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.charger_id}: {self.state}"

    @property
    def is_unfinished(self) -> bool:
        return self.state in self.UNFINISHED
