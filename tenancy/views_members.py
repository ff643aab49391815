"""Members of a group: the list, invitations, role changes, removal; and the page an
invited person sets their password on (Django's password-reset machinery)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from tenancy import access, selectors, services
from tenancy.audit import client_ip
from tenancy.forms import MemberInviteForm, MemberRoleForm, add_service_errors, posted


@require_http_methods(["GET", "POST"])
def member_list(request, pk):
    user = request.user
    group = access.get_group_for_user(user, pk)
    access.require(access.can_manage_members_in(user, group))
    form = MemberInviteForm(posted(request), user=user, group=group)
    if form.is_valid():
        try:
            membership = services.member_invite(
                actor=user,
                group=group,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                site_url=request.build_absolute_uri("/"),
                ip=client_ip(request),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if membership.user.has_usable_password():
                text = _("%(user)s added to %(group)s.")
            else:
                text = _("%(user)s added to %(group)s; an invitation e-mail is on its way.")
            messages.success(
                request, text % {"user": membership.user.get_username(), "group": group.name}
            )
            return redirect("groups:members", group.pk)
    own, above = selectors.group_members(user, group)
    rows = [
        (m, MemberRoleForm(user=user, membership=m, initial={"role": m.role}, prefix=f"m{m.pk}"))
        if access.can_manage_membership(user, m)
        else (m, None)
        for m in own
    ]
    context = {"group": group, "form": form, "rows": rows, "above": above}
    return render(request, "members/list.html", context)


@require_POST
def member_role(request, pk):
    membership = access.get_membership_for_user(request.user, pk)
    access.require(access.can_manage_membership(request.user, membership))
    form = MemberRoleForm(request.POST, user=request.user, membership=membership)
    if form.is_valid():
        try:
            services.member_set_role(
                actor=request.user,
                membership=membership,
                role=form.cleaned_data["role"],
                ip=client_ip(request),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
    if form.errors:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
    else:
        messages.success(
            request,
            _("%(user)s is now %(role)s.")
            % {
                "user": membership.user.get_username(),
                "role": dict(form.fields["role"].choices)[form.cleaned_data["role"]],
            },
        )
    return redirect("groups:members", membership.group_id)


@require_http_methods(["GET", "POST"])
def member_remove(request, pk):
    membership = access.get_membership_for_user(request.user, pk)
    access.require(access.can_manage_membership(request.user, membership))
    errors = []
    if request.method == "POST":
        try:
            services.member_remove(actor=request.user, membership=membership, ip=client_ip(request))
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(
                request,
                _("%(user)s removed from %(group)s.")
                % {"user": membership.user.get_username(), "group": membership.group.name},
            )
            return redirect("groups:members", membership.group_id)
    return render(request, "members/remove.html", {"membership": membership, "errors": errors})


class InvitationView(auth_views.PasswordResetConfirmView):
    """The link in an invitation: a one-use token that lets a new person choose a
    password (the same machinery and token as a password reset), then log in."""

    template_name = "members/set_password.html"
    success_url = reverse_lazy("login")
    title = gettext_lazy("Choose your password")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password is set. Log in with it now."))
        return response
