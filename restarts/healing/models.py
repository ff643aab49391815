"""Self-healing: a group's policy, and one case per stuck charger the ladder works on.

A `HealingPolicy` row on a group sets self-healing for it and every group below it
that has no row of its own (`policy.py` finds the nearest). A `HealingCase` is one
charger found stuck: which rule fired, which step of the ladder it is on (probe,
Soft, Hard), the restart requests it made (normal requests, source `auto`), and how
it ended. At most one open case per charger (a database constraint).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chargers.models import Charger
from tenancy.models import Group


class HealingPolicy(models.Model):
    """What counts as stuck in a group, and how far the portal may go by itself."""

    group = models.OneToOneField(
        Group, on_delete=models.CASCADE, related_name="healing_policy", verbose_name=_("group")
    )
    enabled = models.BooleanField(_("self-healing on"), default=False)
    faulted_minutes = models.PositiveIntegerField(
        _("faulted for (minutes)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
        help_text=_("A charger with a connector Faulted this long is stuck."),
    )
    unresponsive = models.BooleanField(
        _("probe for unresponsive chargers"),
        default=True,
        help_text=_(
            "Connected chargers are asked for a Heartbeat now and then; two unanswered "
            "in a row make a charger stuck."
        ),
    )
    max_per_charger_day = models.PositiveSmallIntegerField(
        _("automatic restarts per charger per 24 hours"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
    )
    max_per_group_hour = models.PositiveSmallIntegerField(
        _("automatic restarts in the group per hour"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
        help_text=_("Counted over this group and all its sub-groups."),
    )
    updated_at = models.DateTimeField(_("changed"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )

    class Meta:
        verbose_name = _("self-healing policy")
        verbose_name_plural = _("self-healing policies")

    def __str__(self) -> str:
        return f"{self.group}: {'on' if self.enabled else 'off'}"

    SETTINGS = (
        "enabled",
        "faulted_minutes",
        "unresponsive",
        "max_per_charger_day",
        "max_per_group_hour",
    )

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.SETTINGS}


class HealingCase(models.Model):
    """One stuck charger and what self-healing did about it, step by step."""

    class Rule(models.TextChoices):
        FAULTED = "faulted", _("Faulted")
        UNRESPONSIVE = "unresponsive", _("Not answering")

    class Step(models.TextChoices):
        PROBE = "probe", _("Probe")
        SOFT = "soft", _("Soft restart")
        HARD = "hard", _("Hard restart")

    class Outcome(models.TextChoices):
        HEALED = "healed", _("Healthy again")
        RECOVERED = "recovered", _("Recovered by itself")
        GAVE_UP = "gave_up", _("Gave up")
        LIMITED = "limited", _("Stopped by a limit")
        CANCELLED = "cancelled", _("Cancelled by a person")
        STOPPED = "stopped", _("Self-healing turned off")

    # Outcomes that leave a charger as it was: its admins are told (one e-mail).
    NOT_HEALED = (Outcome.GAVE_UP, Outcome.LIMITED)

    charger = models.ForeignKey(
        Charger, on_delete=models.CASCADE, related_name="healing_cases", verbose_name=_("charger")
    )
    # The group whose policy applied (the charger's own or the nearest above with one).
    policy_group = models.ForeignKey(
        Group, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("policy")
    )
    rule = models.CharField(_("rule"), max_length=16, choices=Rule.choices)
    step = models.CharField(_("step"), max_length=8, choices=Step.choices, default=Step.PROBE)
    opened_at = models.DateTimeField(_("found stuck"), default=timezone.now, db_index=True)
    # When the current step began; for the probe, when it was last sent.
    step_at = models.DateTimeField(null=True, blank=True)
    probe_misses = models.PositiveSmallIntegerField(default=0)
    probed_at = models.DateTimeField(null=True, blank=True)
    # Why the ladder is holding (a session runs, a firmware update, not connected, …).
    waiting = models.CharField(_("waiting"), max_length=32, blank=True)
    job = models.ForeignKey(
        "restarts.RestartJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("current restart"),
    )
    # Every step taken: [{"step", "at", "request", "job", "reset_type", "state", "text"}].
    attempts = models.JSONField(_("attempts"), default=list)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, blank=True)
    # What ended it, in words (the limit reached, the last answer).
    outcome_detail = models.CharField(_("why"), max_length=300, blank=True)
    closed_at = models.DateTimeField(_("ended"), null=True, blank=True)
    notified_at = models.DateTimeField(_("admins told"), null=True, blank=True)
    # The charger as it was when found stuck, for success rates per model and firmware.
    model = models.CharField(_("model"), max_length=100, blank=True)
    firmware_version = models.CharField(_("firmware version"), max_length=100, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        verbose_name = _("self-healing case")
        verbose_name_plural = _("self-healing cases")
        constraints = [
            models.UniqueConstraint(
                fields=["charger"],
                condition=Q(outcome=""),
                name="healingcase_one_open_per_charger",
            )
        ]
        indexes = [models.Index(fields=["charger", "-opened_at"], name="healingcase_charger")]

    def __str__(self) -> str:
        return f"{self.charger_id} {self.rule} {self.outcome or self.step}"

    # Why an open case holds (its `waiting` code), in words.
    WAITING = {
        "not_connected": _("the charger is not connected"),
        "session": _("a charging session is running"),
        "maintenance_window": _("it is charging and outside its maintenance window"),
        "firmware": _("a firmware update is under way"),
        "restarting": _("the charger is already being restarted"),
        "unavailable": _("the job queue is unavailable"),
    }

    @property
    def waiting_text(self) -> str:
        return str(self.WAITING.get(self.waiting, self.waiting))

    @property
    def is_open(self) -> bool:
        return not self.outcome

    @property
    def not_healed(self) -> bool:
        return self.outcome in self.NOT_HEALED
