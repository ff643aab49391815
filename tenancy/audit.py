"""The audit trail: one function writes it, nothing edits it."""

from __future__ import annotations

from typing import Any

from tenancy.models import AuditEvent, Group


def client_ip(request) -> str | None:
    """The client address as the app server saw it (a proxy sets REMOTE_ADDR correctly).

    Views read it and hand services `ip=`: services know nothing of HTTP.
    """
    return request.META.get("REMOTE_ADDR") or None


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
