"""Tenancy: organisations, their tree of groups, memberships with roles, subscriptions."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def _default_time_zone() -> str:
    return settings.TIME_ZONE


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Not a time zone: %(value)s."), params={"value": value})


class Organisation(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # The time zone its reports (restart exports, summaries) give times in.
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default=_default_time_zone,
        validators=[validate_time_zone],
        help_text=_("An IANA name such as Europe/Copenhagen; reports give times in it."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        try:
            return zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo(settings.TIME_ZONE)

    def has_active_business(self, at=None) -> bool:
        sub = getattr(self, "subscription", None)
        return bool(sub and sub.is_active_business(at))


class Subscription(models.Model):
    class Plan(models.TextChoices):
        BASIC = "basic", _("Basic")
        BUSINESS = "business", _("Business")

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="subscription"
    )
    plan = models.CharField(_("plan"), max_length=20, choices=Plan.choices, default=Plan.BASIC)
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=models.F("valid_from")),
                name="subscription_period_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation}: {self.get_plan_display()}"

    def is_active(self, at=None) -> bool:
        at = at or timezone.now()
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)

    def is_active_business(self, at=None) -> bool:
        return self.plan == self.Plan.BUSINESS and self.is_active(at)


class Group(models.Model):
    """A node in an organisation's tree of groups.

    `path` is a materialised path of primary keys ("/3/17/"), so "this group and
    everything below it" is one indexed prefix match.
    """

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.CASCADE,
        related_name="groups",
        verbose_name=_("organisation"),
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent group"),
    )
    name = models.CharField(_("name"), max_length=200)
    path = models.CharField(max_length=1000, editable=False, db_index=True, default="")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # Its maintenance window (Servicevindue), local times in the organisation's time
    # zone; the end may be past midnight (22:00–04:00). Both empty: it follows the
    # nearest group above with one (tenancy/maintenance.py).
    maintenance_start = models.TimeField(_("maintenance window from"), null=True, blank=True)
    maintenance_end = models.TimeField(_("maintenance window until"), null=True, blank=True)

    class Meta:
        ordering = ["path"]
        verbose_name = _("group")
        verbose_name_plural = _("groups")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "parent", "name"], name="group_unique_name_per_parent"
            ),
            models.UniqueConstraint(
                fields=["organisation", "name"],
                condition=Q(parent__isnull=True),
                name="group_unique_root_name",
            ),
            models.CheckConstraint(
                condition=(
                    Q(maintenance_start__isnull=True, maintenance_end__isnull=True)
                    | (
                        Q(maintenance_start__isnull=False, maintenance_end__isnull=False)
                        & ~Q(maintenance_start=models.F("maintenance_end"))
                    )
                ),
                name="group_maintenance_window_whole",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if self.parent_id and self.parent.organisation_id != self.organisation_id:
            raise ValueError("A group's parent must belong to the same organisation.")
        super().save(*args, **kwargs)
        expected = (self.parent.path if self.parent_id else "/") + f"{self.pk}/"
        if self.path != expected:
            self.path = expected
            Group.objects.filter(pk=self.pk).update(path=expected)

    @property
    def depth(self) -> int:
        return max(self.path.count("/") - 2, 0)

    def subtree(self):
        """This group and every group below it."""
        return Group.objects.filter(path__startswith=self.path)

    def ancestor_ids(self) -> list[int]:
        return [int(part) for part in self.path.strip("/").split("/") if part]


class Membership(models.Model):
    class Role(models.TextChoices):
        SUPER_ADMIN = "super_admin", _("Super-admin")
        ADMIN = "admin", _("Admin")
        USER = "user", _("User")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.USER)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "group"], name="membership_unique_user_group")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.group} ({self.get_role_display()})"

    MANAGING_ROLES = (Role.SUPER_ADMIN, Role.ADMIN)


class AuditEvent(models.Model):
    """An append-only record of who changed what: restarts, groups, chargers, members.

    Written only through `tenancy.audit.record`; the admin shows it read-only.
    """

    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("who"),
    )
    actor_name = models.CharField(_("who (name)"), max_length=150, blank=True)
    ip_address = models.GenericIPAddressField(_("from"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    group = models.ForeignKey(
        Group, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    group_path = models.CharField(max_length=1000, blank=True, db_index=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action}"
