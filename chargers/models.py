"""The charger as the portal knows it: identity, place in a group, and what the gateway saw."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chargers import credentials
from tenancy.models import Group


class SecurityProfile(models.IntegerChoices):
    """OCPP's security profiles: how a charger proves who it is at the handshake."""

    PASSWORD = 1, _("Profile 1: password")
    TLS_PASSWORD = 2, _("Profile 2: TLS and password")
    TLS_CERTIFICATE = 3, _("Profile 3: TLS and client certificate")


class Charger(models.Model):
    class OcppVersion(models.TextChoices):
        V16 = "1.6", "OCPP 1.6J"
        V201 = "2.0.1", "OCPP 2.0.1"

    SecurityProfile = SecurityProfile

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
    # Set only by seed_demo: the demo simulator (`simulate_chargers --from-db`) plays
    # these and nothing else, so a charger a user adds never gets a simulated twin.
    simulated = models.BooleanField(_("simulated (demo)"), default=False, editable=False)
    # The floor the gateway enforces at the handshake: a charger connecting with less
    # (plain ws:// for profile 2, no certificate for profile 3) is refused.
    security_profile = models.PositiveSmallIntegerField(
        _("security profile"),
        choices=SecurityProfile.choices,
        default=SecurityProfile.PASSWORD,
        help_text=_("Profile 3: the certificate's common name must be the charge point id."),
    )

    is_connected = models.BooleanField(_("connected"), default=False)
    connected_at = models.DateTimeField(_("connected at"), null=True, blank=True)
    disconnected_at = models.DateTimeField(_("disconnected at"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    last_boot_at = models.DateTimeField(_("last boot"), null=True, blank=True)
    last_status = models.CharField(_("OCPP status"), max_length=32, blank=True)
    last_status_at = models.DateTimeField(_("status at"), null=True, blank=True)
    # The charging sessions running, per connector (1.6 connectorId, 2.0.1 evseId):
    # {connector key: transaction id} (ocpp_gateway/sessions.py keeps it), and whether
    # there is any, written with it in the same statement (for filters and the restart rule).
    sessions = models.JSONField(_("charging sessions"), default=dict, blank=True, editable=False)
    session_active = models.BooleanField(_("charging session running"), default=False)
    session_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The last FirmwareStatusNotification (1.6 and 2.0.1 words) and when it came: a charger
    # in the middle of an update must not be restarted (it can brick it).
    firmware_status = models.CharField(
        _("firmware update status"), max_length=32, blank=True, editable=False
    )
    firmware_status_at = models.DateTimeField(null=True, blank=True, editable=False)
    # What the gateway saw at the last connection: the profile the charger proved (3 with a
    # certificate bound to its id, 2 over TLS, else 1) and when that certificate expires.
    connection_security_profile = models.PositiveSmallIntegerField(
        _("security profile of the last connection"), null=True, blank=True, editable=False
    )
    certificate_expires_at = models.DateTimeField(
        _("client certificate expires"), null=True, blank=True, editable=False
    )
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
            # The Opladere page's default order: its first page without sorting them all.
            models.Index(fields=["name", "id"], name="charger_name_id"),
            models.Index(fields=["is_connected", "name"], name="charger_connected_name"),
            models.Index(fields=["last_status"], name="charger_last_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(security_profile__in=[1, 2, 3]),
                name="charger_security_profile_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.charge_point_id})"

    # FirmwareStatusNotification words that mean an update is under way (1.6 and 2.0.1);
    # the others (Idle, Installed, …Failed) mean none is.
    FIRMWARE_UPDATING = (
        "Downloading",
        "Downloaded",
        "DownloadScheduled",
        "DownloadPaused",
        "SignatureVerified",
        "InstallScheduled",
        "Installing",
        "InstallRebooting",
    )

    def firmware_updating(self, now=None, *, stale_after: float = 7200) -> bool:
        """It last reported an update under way, less than `stale_after` seconds ago.

        A charger that never reports the end of its update counts as updating only that
        long: the last word of a charger that lost power mid-update must not block it forever.
        """
        if self.firmware_status not in self.FIRMWARE_UPDATING or self.firmware_status_at is None:
            return False
        now = now or timezone.now()
        return now - self.firmware_status_at < timedelta(seconds=stale_after)

    def set_ocpp_password(self, raw: str | None) -> None:
        """Store a keyed hash of `raw` (chargers/credentials.py); None or "": no password."""
        self.password_hash = credentials.make(raw) if raw else ""

    def check_ocpp_password(self, raw: str | None) -> bool:
        """For synchronous callers; the gateway checks on its own terms (handshake.py)."""
        if not self.password_hash:
            return True
        return bool(raw) and credentials.check(self.password_hash, raw)

    @property
    def charging_connectors(self) -> list[str]:
        """The connectors (1.6) or EVSEs (2.0.1) with a session, as numbered by the charger;
        a session known only by its transaction id is counted, not named."""
        return sorted((k for k in self.sessions if k.isdigit() and k != "0"), key=int)

    @property
    def requires_password(self) -> bool:
        return bool(self.password_hash)

    def certificate_expires_soon(self, *, days: int = 30) -> bool:
        """The client certificate of its last connection ends within `days` (or has ended)."""
        if self.certificate_expires_at is None:
            return False
        return self.certificate_expires_at < timezone.now() + timedelta(days=days)


class ChargerEvent(models.Model):
    """A charger's connection history, append-only: what the gateway applied, when.

    Written by the gateway's recorder for connects, disconnects and boots it actually
    applied (a replaced socket's late close writes none) and for faults flipping on or
    off; pruned after CHARGER_HISTORY_DAYS. The charger page draws its last week.
    """

    class Kind(models.TextChoices):
        CONNECTED = "connected", _("Connected")
        DISCONNECTED = "disconnected", _("Disconnected")
        BOOTED = "booted", _("Booted")
        FAULTED = "faulted", _("Faulted")
        RECOVERED = "recovered", _("Fault cleared")

    charger = models.ForeignKey(
        Charger, on_delete=models.CASCADE, related_name="events", verbose_name=_("charger")
    )
    at = models.DateTimeField(_("at"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    # The boot reason, or why a disconnect happened when we know it.
    detail = models.CharField(_("detail"), max_length=64, blank=True)

    class Meta:
        ordering = ["charger", "at", "pk"]
        verbose_name = _("charger event")
        verbose_name_plural = _("charger events")
        indexes = [
            models.Index(fields=["charger", "at"], name="chargerevent_charger_at"),
            models.Index(fields=["at"], name="chargerevent_at"),  # the daily prune
        ]

    def __str__(self) -> str:
        return f"{self.charger_id} {self.kind} {self.at:%Y-%m-%d %H:%M:%S}"
