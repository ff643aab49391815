"""The charger as the portal knows it: identity, place in a group, and what the gateway saw."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from chargers import credentials
from tenancy.models import Group


class Charger(models.Model):
    class OcppVersion(models.TextChoices):
        V16 = "1.6", "OCPP 1.6J"
        V201 = "2.0.1", "OCPP 2.0.1"

    charge_point_id = models.CharField(
        _("charge point id"),
        max_length=64,
        unique=True,
        help_text=_("The identity the charger uses in its websocket URL."),
    )
    name = models.CharField(_("name"), max_length=200)
    group = models.ForeignKey(
        Group, on_delete=models.PROTECT, related_name="chargers", verbose_name=_("group")
    )
    model = models.CharField(_("model"), max_length=100, blank=True)
    vendor = models.CharField(_("vendor"), max_length=100, blank=True)
    serial_number = models.CharField(_("serial number"), max_length=100, blank=True)
    firmware_version = models.CharField(_("firmware version"), max_length=100, blank=True)
    ocpp_version = models.CharField(
        _("OCPP version"), max_length=8, choices=OcppVersion.choices, default=OcppVersion.V16
    )
    supports_remote_restart = models.BooleanField(_("can be restarted remotely"), default=True)
    password_hash = models.CharField(_("OCPP password (hashed)"), max_length=200, blank=True)

    is_connected = models.BooleanField(_("connected"), default=False)
    connected_at = models.DateTimeField(_("connected at"), null=True, blank=True)
    disconnected_at = models.DateTimeField(_("disconnected at"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    last_boot_at = models.DateTimeField(_("last boot"), null=True, blank=True)
    last_status = models.CharField(_("OCPP status"), max_length=32, blank=True)
    last_status_at = models.DateTimeField(_("status at"), null=True, blank=True)
    # A charging session (1.6 transaction / 2.0.1 TransactionEvent) is running.
    session_active = models.BooleanField(_("charging session running"), default=False)
    session_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Which socket currently owns this charger; a closing socket only marks the
    # charger disconnected if it still owns it (a newer connection wins).
    connection_token = models.CharField(max_length=64, blank=True, editable=False)

    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("charger")
        verbose_name_plural = _("chargers")
        indexes = [
            models.Index(fields=["group", "name"], name="charger_group_name"),
            models.Index(fields=["is_connected", "name"], name="charger_connected_name"),
            models.Index(fields=["last_status"], name="charger_last_status"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.charge_point_id})"

    def set_ocpp_password(self, raw: str | None) -> None:
        """Store a keyed hash of `raw` (chargers/credentials.py); None or "": no password."""
        self.password_hash = credentials.make(raw) if raw else ""

    def check_ocpp_password(self, raw: str | None) -> bool:
        """For synchronous callers; the gateway checks on its own terms (handshake.py)."""
        if not self.password_hash:
            return True
        return bool(raw) and credentials.check(self.password_hash, raw)

    @property
    def requires_password(self) -> bool:
        return bool(self.password_hash)
