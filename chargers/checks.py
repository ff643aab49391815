"""System checks for charger credentials (``manage.py check``; ``--database`` for W001)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.db import DatabaseError, connections

from chargers import credentials
from chargers.models import Charger

MIN_KEY_LENGTH = 32


@register(Tags.security)
def check_password_key(app_configs=None, **kwargs):
    key = getattr(settings, "OCPP_PASSWORD_KEY", "")
    if len(key) < MIN_KEY_LENGTH:
        return [
            Warning(
                f"OCPP_PASSWORD_KEY is shorter than {MIN_KEY_LENGTH} characters.",
                hint="Use a long random value, e.g. python -c "
                "'import secrets; print(secrets.token_urlsafe(48))'.",
                id="chargers.W002",
            )
        ]
    return []


@register(Tags.database)
def check_legacy_passwords(app_configs=None, databases=None, **kwargs):
    """Chargers whose OCPP password is still a slow (PBKDF2) string: moved on their next connect."""
    found = []
    for alias in databases or ():
        try:
            legacy = (
                Charger.objects.using(alias)
                .exclude(password_hash="")
                .exclude(password_hash__startswith=credentials.PREFIX + "$")
                .count()
            )
        except DatabaseError:
            connections[alias].close()
            continue  # not migrated yet
        if legacy:
            found.append(
                Warning(
                    f"{legacy} chargers still have an OCPP password stored with a slow "
                    "password hasher.",
                    hint="Each moves to the keyed hash on its next successful connect; "
                    "until then its handshake costs a slow hash check.",
                    id="chargers.W001",
                )
            )
    return found
