"""Restart requests and the one job per charger that carries each restart through its states.

    queued → sent → accepted → done
    side exits: rejected, no_answer, not_back, unconfirmed, skipped, cancelled,
    waiting (→ queued), scheduled (→ accepted/queued → …)

What each state means (final or not, restarting or not, badge, texts, outcome) is
declared once, on `RestartJob.State`; pages, the history and both APIs read it there.

Every transition is a conditional move (`RestartJob.objects.filter(…).move(from_, to)`),
written to the database before anyone is shown it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from chargers.models import Charger


def current_language() -> str:
    """The language the request is made in (the page's or the API's Accept-Language)."""
    return translation.get_language() or settings.LANGUAGE_CODE


class RestartRequest(models.Model):
    """What somebody asked for: who, when, from where, which ids, how."""

    class Mode(models.TextChoices):
        DEFAULT = "default", _("When idle")
        NOW = "now", _("Now")

    class Source(models.TextChoices):
        WEB = "web", _("Web")
        API = "api", _("API")
        # Self-healing (restarts/healing/): the portal restarts a stuck charger by itself.
        AUTO = "auto", _("Self-healing")

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
    # Why, when the portal asked by itself (self-healing: the rule that fired and the step).
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    # A planned restart: its jobs wait as `planned` until then (a beat task releases them).
    not_before = models.DateTimeField(_("planned for"), null=True, blank=True)
    # Users have no stored language: the summary e-mail speaks the one the request was
    # made in (the language switch's cookie or Accept-Language, else LANGUAGE_CODE).
    language = models.CharField(_("language"), max_length=8, default=current_language)
    # When its end was summed up, claimed once (restarts/summaries.py); an e-mail went
    # to the requester if any job failed.
    summarised_at = models.DateTimeField(_("summed up at"), null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        indexes = [
            models.Index(
                fields=["requested_at"],
                condition=Q(summarised_at__isnull=True),
                name="restartrequest_unsummarised",
            ),
            # Planned ones, read by their time (the release, the progress bar).
            models.Index(
                fields=["not_before"],
                condition=Q(not_before__isnull=False),
                name="restartrequest_planned",
            ),
        ]
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

    def ask_for_boot(self, now) -> list[int]:
        """Stamp `trigger_sent_at` on the jobs here not asked yet; the ids this call stamped.

        The "not asked yet" test stands in the UPDATE's own WHERE (as `move`'s state
        test does), so of two sweeps at once only one stamps a job, and only it sends
        the TriggerMessage.
        """
        opts = self.model._meta
        jobs = self.model._base_manager.using(self.db).filter(
            trigger_sent_at__isnull=True, pk__in=self.values("pk")
        )
        try:
            rows = jobs._update(
                [(opts.get_field("trigger_sent_at"), None, now)], returning_fields=[opts.pk]
            )
        except EmptyResultSet:
            return []
        return sorted(row[0] for row in rows)

    ask_for_boot.alters_data = True


@dataclass(frozen=True)
class StateMeaning:
    """What a job state means, for every page and API that shows or counts it."""

    final: bool
    # success / warning / failure / neutral once final; None while under way
    outcome: str | None
    badge: str  # css badge kind on rows and in the history: busy, plan, ok, warn, bad or ""
    # The charger is going through its reset now: the row is disabled and says
    # Genstarter, the APIs report the charger as restarting (Wallbox 166), the
    # "restarting" filter lists it and the rows poll fast.
    restarting: bool = False
    # The row is disabled (no second restart can be asked for) though not restarting.
    holds_row: bool = False
    # What the charger's row says: while the job runs, or for a day after a final one
    # that needs a look. None: the row shows nothing. "%(time)s": the planned time.
    row_text: Promise | None = None


# A job's outcome in words (the state table gives each state one; None: under way).
OUTCOME_TEXT = {
    None: _("In progress"),
    "success": _("Restarted"),
    "warning": _("Not confirmed"),
    "failure": _("Failed"),
    "neutral": _("Cancelled"),
}


class JobState(models.TextChoices):
    """Every job state and its meaning, declared once; pages and APIs read it here.

    Each member is `value, StateMeaning(...), label` (the label is the state's name in
    the history and the API's `state_text`).
    """

    # Waits for its planned time (RestartRequest.not_before); the charger works meanwhile.
    PLANNED = (
        "planned",
        StateMeaning(False, None, "plan", row_text=_("Planned %(time)s")),
        _("Planned"),
    )
    QUEUED = (
        "queued",
        StateMeaning(False, None, "busy", restarting=True, row_text=_("Restarting")),
        _("Queued"),
    )
    WAITING = (
        "waiting",
        StateMeaning(False, None, "busy", restarting=True, row_text=_("Restarting")),
        _("Waiting for the charger"),
    )
    SENT = (
        "sent",
        StateMeaning(False, None, "busy", restarting=True, row_text=_("Restarting")),
        _("Sent"),
    )
    ACCEPTED = (
        "accepted",
        StateMeaning(False, None, "busy", restarting=True, row_text=_("Restarting")),
        _("Accepted"),
    )
    SCHEDULED = (
        "scheduled",
        StateMeaning(
            False, None, "warn", holds_row=True, row_text=_("Restarts when charging ends")
        ),
        _("Restarts when charging ends"),
    )
    DONE = "done", StateMeaning(True, "success", "ok"), _("Done")
    UNCONFIRMED = (
        "unconfirmed",
        StateMeaning(True, "warning", "warn", row_text=_("Back, restart not confirmed")),
        _("Back, restart not confirmed"),
    )
    CANCELLED = (
        "cancelled",
        StateMeaning(True, "neutral", "", row_text=_("Restart cancelled")),
        _("Cancelled"),
    )
    REJECTED = (
        "rejected",
        StateMeaning(True, "failure", "bad", row_text=_("Restart failed: rejected")),
        _("Rejected"),
    )
    NO_ANSWER = (
        "no_answer",
        StateMeaning(True, "failure", "bad", row_text=_("Restart failed: no answer")),
        _("No answer"),
    )
    NOT_BACK = (
        "not_back",
        StateMeaning(True, "failure", "bad", row_text=_("Restart failed: did not come back")),
        _("Did not come back"),
    )
    SKIPPED = (
        "skipped",
        StateMeaning(True, "failure", "bad", row_text=_("Restart skipped")),
        _("Skipped"),
    )

    def __new__(cls, value: str, meaning: StateMeaning):
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        return member

    @classmethod
    def of(cls, value: str | None) -> JobState | None:
        """The member for a stored state (None for none)."""
        return cls(value) if value else None

    @classmethod
    def _where(cls, test) -> tuple[str, ...]:
        return tuple(member.value for member in cls if test(member.meaning))

    @classmethod
    def unfinished(cls) -> tuple[str, ...]:
        """States a job is still under way in (at most one per charger)."""
        return cls._where(lambda m: not m.final)

    @classmethod
    def restarting(cls) -> tuple[str, ...]:
        """States in which the charger counts as restarting (Genstarter)."""
        return cls._where(lambda m: m.restarting)

    @classmethod
    def holding_row(cls) -> tuple[str, ...]:
        """States that disable the charger's row (restarting, or waiting to)."""
        return cls._where(lambda m: m.restarting or m.holds_row)

    @classmethod
    def with_outcome(cls, outcome: str) -> tuple[str, ...]:
        """Final states of one outcome: success, warning, failure or neutral."""
        return cls._where(lambda m: m.outcome == outcome)

    @classmethod
    def failed(cls) -> tuple[str, ...]:
        return cls.with_outcome("failure")


class RestartJob(models.Model):
    State = JobState

    # Why a job ended without a reset (its `detail` code, `code` or `code:who`); shown
    # translated in the history and the export. Any other detail is the charger's own
    # words, shown as recorded.
    DETAILS = {
        "not_connected": _("not connected"),
        "no_remote_restart": _("cannot be restarted remotely"),
        "no_result": _("the charger did not answer in time"),
        "no_boot": _("no BootNotification in time"),
        "no_boot_when_asked": _("back, but no BootNotification even when asked"),
        "not_registered": _("connected, but never registered (no BootNotification accepted)"),
        "gateway_late": _("its gateway is busy; sent when it answers again"),
        "session_did_not_end": _("the charging session did not end in time"),
        # cancelled when it was to be sent: the requester lost the right meanwhile
        "not_allowed": _("the requester may no longer restart this charger"),
        "no_business": _(
            "restarting several chargers at once needs a Business subscription, which has ended"
        ),
        "cancelled_by": _("cancelled by %(who)s"),
    }

    class Confirmation(models.TextChoices):
        BOOT = "boot", _("BootNotification")
        TRIGGER = "trigger", _("BootNotification on request")
        # Jobs from before the boot rule only: reconnecting is no evidence of a restart.
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
    # The command batch of that claim: Redis keeps a mark of each batch that was pushed,
    # so a claim whose worker died before pushing is known never to have left.
    call_batch = models.CharField(_("command batch"), max_length=80, blank=True)
    # The gateway's stamps: when the Reset frame was written to the charger's socket,
    # and when the charger's answer (CallResult or CallError) arrived.
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    # This attempt's answer is recorded as lost: its Reset may have reached the charger
    # (no verdict; a boot on a later socket confirms it). Cleared at every claim.
    answer_lost = models.BooleanField(_("answer lost"), default=False)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    scheduled_at = models.DateTimeField(_("scheduled at"), null=True, blank=True)
    trigger_sent_at = models.DateTimeField(_("boot requested at"), null=True, blank=True)
    # The gateway's stamp of writing that TriggerMessage to the charger: the wait for the
    # asked-for boot counts from here, not from when a sweep decided to ask (a busy
    # queue can hold the ask for longer than the wait).
    trigger_written_at = models.DateTimeField(_("boot request written at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = RestartJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("restart job")
        verbose_name_plural = _("restart jobs")
        constraints = [
            models.UniqueConstraint(
                fields=["charger"],
                condition=Q(state__in=JobState.unfinished()),
                name="restartjob_one_unfinished_per_charger",
            )
        ]
        indexes = [
            models.Index(
                fields=["state", "created_at"],
                condition=Q(state__in=JobState.unfinished()),
                name="restartjob_unfinished",
            ),
            models.Index(fields=["charger", "-created_at"], name="restartjob_charger_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.charger_id}: {self.state}"

    @property
    def is_unfinished(self) -> bool:
        return self.state in self.State.unfinished()

    @property
    def detail_text(self) -> str:
        """The detail in the reader's language when it is one of our codes, else as recorded."""
        code, colon, who = self.detail.partition(":")
        text = self.DETAILS.get(code)
        if text is None or (code == "cancelled_by") != bool(colon):
            return self.detail
        return str(text) % {"who": who} if colon else str(text)

    @property
    def state_meaning(self) -> StateMeaning:
        return self.State(self.state).meaning


# Self-healing's models live beside the restarts they make (app label "restarts").
from restarts.healing.models import HealingCase, HealingPolicy  # noqa: E402, F401
