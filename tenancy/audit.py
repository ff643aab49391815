"""The audit trail: one function writes it, nothing edits it."""

from __future__ import annotations

from typing import Any

from tenancy.models import AuditEvent, Group
from tenancy.proxies import client_address_of


def client_ip(request) -> str | None:
    """The client's address: behind a trusted proxy the one it forwards (tenancy/proxies.py).

    Views read it and hand services `ip=`: services know nothing of HTTP. Login
    lockouts (``AXES_CLIENT_IP_CALLABLE``) and API rate limits use it too.
    """
    client = getattr(request, "client_address", None)
    if client is None:  # TrustedProxyMiddleware did not run (RequestFactory, axes' own calls)
        client = client_address_of(request.META)
    return client.address or None


def record(
    *,
    action: str,
    actor=None,
    ip: str | None = None,
    group: Group | None = None,
    obj: Any = None,
    summary: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Append one event. Call it inside the transaction that makes the change."""
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        ip_address=ip,
        action=action,
        organisation_id=group.organisation_id if group else None,
        group=group,
        group_path=group.path if group else "",
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        summary=summary[:500],
        before=before,
        after=after,
    )
