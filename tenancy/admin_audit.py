"""Every write through the Django admin goes into the audit trail.

The admin is the platform operators' tool (superusers only, ``config.admin_site``); what
they change there is recorded like any change in the portal: who, from where, which
object, and the changed fields before and after. ``PortalAdminSite`` mixes this into
every model admin it registers, Django's own (users) included, so a new admin cannot
forget it.
"""

from __future__ import annotations

import datetime
import decimal
import uuid

from django.db import models, router, transaction

from tenancy import audit
from tenancy.models import Group

MASKED = "[changed]"


def is_platform_operator(user) -> bool:
    """Who may use the admin at all: an active superuser."""
    return bool(user.is_active and user.is_superuser)


def _plain(name: str, value):
    """A value the audit trail can store (JSON) and show; secrets never leave."""
    if "password" in name or name in ("secret", "token"):
        return MASKED
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, models.QuerySet | list | tuple | set):
        return sorted(str(item) for item in value)
    return str(value)


def _changes(form) -> tuple[dict, dict]:
    """Before and after of the fields this form changed (its initial data is the old row)."""
    before, after = {}, {}
    for name in form.changed_data:
        before[name] = _plain(name, _initial(form, name))
        after[name] = _plain(name, form.cleaned_data.get(name))
    return before, after


def _initial(form, name):
    value = form.initial.get(name)
    field = form.fields.get(name)
    # A ModelChoiceField's initial is a primary key: show what it names.
    queryset = getattr(field, "queryset", None)
    if queryset is not None and value not in (None, "", []):
        if isinstance(value, list | tuple):
            return list(queryset.filter(pk__in=[getattr(v, "pk", v) for v in value]))
        return queryset.filter(pk=getattr(value, "pk", value)).first() or value
    return value


def _group_of(obj) -> Group | None:
    if isinstance(obj, Group):
        return obj if obj.pk else None
    group = getattr(obj, "group", None)
    return group if isinstance(group, Group) else None


class AdminAuditMixin:
    """save_model, delete_model, delete_queryset and save_formset write audit events."""

    def _audit(self, request, obj, verb: str, before=None, after=None) -> None:
        meta = obj._meta
        audit.record(
            action=f"admin.{meta.model_name}.{verb}",
            actor=request.user,
            ip=audit.client_ip(request),
            group=_group_of(obj),
            obj=obj,
            summary=f"{meta.verbose_name}: {obj}",
            before=before or None,
            after=after or None,
        )

    def save_model(self, request, obj, form, change):
        before, after = _changes(form) if change else ({}, {})
        super().save_model(request, obj, form, change)
        if change:
            if before or after:
                self._audit(request, obj, "change", before, after)
        else:
            self._audit(request, obj, "add", after=_changes(form)[1])

    def delete_model(self, request, obj):
        self._audit(request, obj, "delete")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # The changelist's "delete selected" action: all of it recorded, or none deleted.
        with transaction.atomic(using=router.db_for_write(queryset.model)):
            for obj in queryset:
                self._audit(request, obj, "delete")
            super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        # Inlines (a group's memberships): the parent's admin records each row.
        changed = {
            inline.instance.pk: _changes(inline)
            for inline in formset.forms
            if inline.instance.pk and inline.has_changed() and inline not in formset.deleted_forms
        }
        for inline in formset.deleted_forms:
            if inline.instance.pk:
                self._audit(request, inline.instance, "delete")
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            added = next((f for f in formset.forms if f.instance is obj), None)
            fields = _changes(added)[1] if added is not None else {}
            self._audit(request, obj, "add", after=fields)
        for obj, _fields in formset.changed_objects:
            before, after = changed.get(obj.pk, ({}, {}))
            self._audit(request, obj, "change", before, after)
