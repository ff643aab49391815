"""Selvhelbredelse: a group's self-healing policy and what it did, under the group."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from restarts.healing import selectors
from restarts.healing.forms import HealingPolicyForm
from restarts.healing.models import HealingPolicy
from restarts.healing.policy import effective_policy, healing_policy_set
from tenancy import access
from tenancy.audit import client_ip
from tenancy.maintenance import maintenance_window


@require_http_methods(["GET", "POST"])
def group_self_healing(request, pk):
    user = request.user
    group = access.get_group_for_user(user, pk)  # 404 outside the user's groups
    access.require(access.can_read_self_healing(user, group))  # 403 for plain users
    can_set = access.can_set_self_healing(user, group)
    effective = effective_policy(group)
    shown = effective.policy or HealingPolicy(group=group)
    form = None
    if can_set:
        initial = {"follow_parent": effective.inherited or effective.policy is None}
        form = HealingPolicyForm(
            request.POST if request.method == "POST" else None,
            instance=HealingPolicy(**shown.as_dict()),
            initial=initial if group.parent_id else {},
            has_parent=group.parent_id is not None,
        )
    if request.method == "POST":
        access.require(can_set)
        if form.is_valid():
            healing_policy_set(actor=user, group=group, values=form.values(), ip=client_ip(request))
            messages.success(request, _("Self-healing saved."))
            return redirect("healing:group", pk=group.pk)
    context = {
        "group": group,
        "effective": effective,
        "policy": shown,
        "window": maintenance_window(group),
        "can_set_window": access.can_set_maintenance_window(user, group),
        "form": form,
        "acted_on": selectors.acted_on(group),
        "gave_up": selectors.gave_up_on(group),
        "rates": selectors.success_rates(group),
    }
    return render(request, "restarts/healing/group.html", context)
