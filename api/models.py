"""Refresh tokens, kept server-side so that each is used once.

A sign-in starts a `TokenFamily`; every refresh token of that sign-in is a row in it.
Refreshing retires the token used (``used_at``) and issues its successor in the same
family. A retired token presented again means two parties hold the family (one of
them stole it): the whole family is revoked, access tokens included (api/tokens.py).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TokenFamily(models.Model):
    class Revoked(models.TextChoices):
        REUSE = "reuse", _("a retired refresh token was used again")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token_families"
    )
    created_at = models.DateTimeField(_("signed in"), auto_now_add=True)
    created_ip = models.GenericIPAddressField(_("from"), null=True, blank=True)
    # The absolute end: no refresh reaches past it (API_REFRESH_FAMILY_TTL after sign-in).
    expires_at = models.DateTimeField(_("ends"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_reason = models.CharField(
        _("why revoked"), max_length=16, choices=Revoked.choices, blank=True
    )

    class Meta:
        verbose_name = _("API sign-in")
        verbose_name_plural = _("API sign-ins")

    def __str__(self) -> str:
        return f"{self.user} {self.created_at:%Y-%m-%d %H:%M}"


class RefreshToken(models.Model):
    jti = models.CharField(max_length=32, primary_key=True)
    family = models.ForeignKey(TokenFamily, on_delete=models.CASCADE, related_name="tokens")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name = _("refresh token")
        verbose_name_plural = _("refresh tokens")

    def __str__(self) -> str:
        return self.jti
