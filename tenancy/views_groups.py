"""Grupper: the group tree, a group's page, its changes; the organisation page; the
audit trail. Short views: fetch through `tenancy.access`, call a service, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from tenancy import access, selectors, services
from tenancy.audit import client_ip
from tenancy.forms import (
    GroupMoveForm,
    GroupNameForm,
    MaintenanceWindowForm,
    add_service_errors,
    posted,
)
from tenancy.maintenance import group_maintenance_window_set, maintenance_window


def group_tree(request):
    return render(request, "groups/tree.html", {"trees": selectors.group_tree(request.user)})


def group_detail(request, pk):
    user = request.user
    group = access.get_group_for_user(user, pk)
    visible = access.visible_groups(user)
    context = {
        "group": group,
        "breadcrumbs": visible.filter(pk__in=group.ancestor_ids()).order_by("path"),
        "children": visible.filter(parent=group).order_by("name"),
        "chargers": selectors.group_chargers(user, group),
        "role": access.role_in_group(user, group),
        "can_shape": access.can_shape_group(user, group),
        "can_move": access.can_move_or_delete_group(user, group),
        "can_manage_chargers": access.can_manage_chargers_in(user, group),
        "can_manage_members": access.can_manage_members_in(user, group),
        "member_count": group.memberships.count(),
        "window": maintenance_window(group),
        "can_set_window": access.can_set_maintenance_window(user, group),
    }
    return render(request, "groups/detail.html", context)


@require_http_methods(["GET", "POST"])
def group_maintenance_window(request, pk):
    group = access.get_group_for_user(request.user, pk)
    access.require(access.can_set_maintenance_window(request.user, group))
    initial = {"start": group.maintenance_start, "end": group.maintenance_end}
    form = MaintenanceWindowForm(posted(request), initial=initial)
    if form.is_valid():
        saved = _run(
            form,
            group_maintenance_window_set,
            actor=request.user,
            group=group,
            start=form.cleaned_data["start"],
            end=form.cleaned_data["end"],
            ip=client_ip(request),
        )
        if saved:
            messages.success(request, _("Maintenance window saved."))
            return redirect("groups:detail", group.pk)
    context = {"form": form, "group": group, "window": maintenance_window(group)}
    return render(request, "groups/maintenance_window.html", context)


def _run(form, service, **kwargs):
    """Call `service`; its ValidationError becomes the form's errors (and None)."""
    try:
        return service(**kwargs)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None


@require_http_methods(["GET", "POST"])
def group_create(request, pk):
    parent = access.get_group_for_user(request.user, pk)
    access.require(access.can_shape_group(request.user, parent))
    form = GroupNameForm(posted(request))
    if form.is_valid():
        group = _run(
            form,
            services.group_create,
            actor=request.user,
            parent=parent,
            name=form.cleaned_data["name"],
            ip=client_ip(request),
        )
        if group:
            messages.success(request, _("Group “%(name)s” created.") % {"name": group.name})
            return redirect("groups:detail", group.pk)
    return render(request, "groups/name_form.html", {"form": form, "parent": parent, "group": None})


@require_http_methods(["GET", "POST"])
def group_rename(request, pk):
    group = access.get_group_for_user(request.user, pk)
    access.require(access.can_shape_group(request.user, group))
    form = GroupNameForm(posted(request), initial={"name": group.name})
    if form.is_valid():
        renamed = _run(
            form,
            services.group_rename,
            actor=request.user,
            group=group,
            name=form.cleaned_data["name"],
            ip=client_ip(request),
        )
        if renamed:
            messages.success(request, _("Group renamed."))
            return redirect("groups:detail", group.pk)
    return render(request, "groups/name_form.html", {"form": form, "group": group})


@require_http_methods(["GET", "POST"])
def group_move(request, pk):
    group = access.get_group_for_user(request.user, pk)
    access.require(access.can_move_or_delete_group(request.user, group))
    form = GroupMoveForm(posted(request), user=request.user, group=group)
    if form.is_valid():
        moved = _run(
            form,
            services.group_move,
            actor=request.user,
            group=group,
            new_parent=form.cleaned_data["parent"],
            ip=client_ip(request),
        )
        if moved:
            messages.success(
                request,
                _("“%(name)s” moved under “%(parent)s”.")
                % {"name": moved.name, "parent": moved.parent.name},
            )
            return redirect("groups:detail", group.pk)
    return render(request, "groups/move.html", {"form": form, "group": group})


@require_http_methods(["GET", "POST"])
def group_delete(request, pk):
    group = access.get_group_for_user(request.user, pk)
    access.require(access.can_move_or_delete_group(request.user, group))
    errors = []
    if request.method == "POST":
        try:
            services.group_delete(actor=request.user, group=group, ip=client_ip(request))
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, _("Group “%(name)s” deleted.") % {"name": group.name})
            return redirect("groups:detail", group.parent_id)
    return render(request, "groups/delete.html", {"group": group, "errors": errors})


def organisation_detail(request, pk):
    organisation = access.get_organisation_for_user(request.user, pk)
    rows = [row for tree in selectors.group_tree(request.user, organisation) for row in tree.rows]
    context = {
        "organisation": organisation,
        "subscription": getattr(organisation, "subscription", None),
        "lacking_business": [] if organisation.has_active_business() else [organisation],
        "rows": rows,
    }
    return render(request, "groups/organisation.html", context)


def audit_list(request):
    if not access.can_read_audit(request.user):
        raise Http404
    paginator = Paginator(selectors.audit_events(request.user), 50)
    page = paginator.get_page(request.GET.get("page"))
    rows = selectors.audit_rows(page.object_list)
    return render(request, "groups/audit.html", {"page": page, "rows": rows})
