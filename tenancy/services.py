"""Writes to the group tree and its people. Every rule about them lives here.

Each service is keyword-only and atomic, checks the actor's rights through
`tenancy.access` after locking, and records what it changed in the audit trail
inside the same transaction. A broken rule is a `ValidationError` (shown as a
form error) or `PermissionDenied` (403); nothing is half-done.

Changes to one organisation's tree and memberships are serialised by locking
the organisation's row: two moves can then never build a cycle between them,
and two super-admins can never remove each other as the last one.
"""

from __future__ import annotations

from urllib.parse import urljoin

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.functions import Concat, Substr
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from tenancy import access, audit
from tenancy.models import Group, Membership, Organisation

Role = Membership.Role


def _lock_tree(group: Group) -> Group:
    """Lock the group's organisation and return the group as it is now."""
    Organisation.objects.select_for_update().filter(pk=group.organisation_id).first()
    try:
        fresh = Group.objects.select_related("organisation").get(pk=group.pk)
    except Group.DoesNotExist as exc:
        raise ValidationError(_("This group no longer exists.")) from exc
    return fresh


def _fresh_rights(actor) -> None:
    """Rights are decided on what is committed now, not on what the request cached."""
    access.clear_cache(actor)


def _group_state(group: Group) -> dict:
    parent = group.parent.name if group.parent_id else None
    return {"name": group.name, "parent": parent, "path": group.path}


def _check_name_free(*, organisation_id: int, parent_id: int | None, name: str, exclude=None):
    siblings = Group.objects.filter(organisation_id=organisation_id, parent_id=parent_id)
    if exclude is not None:
        siblings = siblings.exclude(pk=exclude.pk)
    if siblings.filter(name__iexact=name).exists():
        raise ValidationError(
            {"name": _("There is already a group called “%(name)s” here.") % {"name": name}}
        )


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": _("Give the group a name.")})
    return name


# -- groups ------------------------------------------------------------------


@transaction.atomic
def group_create(*, actor, parent: Group, name: str, ip: str | None = None) -> Group:
    """A new sub-group under `parent`; the actor must be super-admin over `parent`."""
    parent = _lock_tree(parent)
    _fresh_rights(actor)
    access.require(access.can_shape_group(actor, parent))
    name = _clean_name(name)
    _check_name_free(organisation_id=parent.organisation_id, parent_id=parent.pk, name=name)
    group = Group.objects.create(organisation=parent.organisation, parent=parent, name=name)
    audit.record(
        action="group.create",
        actor=actor,
        ip=ip,
        group=group,
        obj=group,
        summary=group.name,
        after=_group_state(group),
    )
    return group


@transaction.atomic
def group_rename(*, actor, group: Group, name: str, ip: str | None = None) -> Group:
    group = _lock_tree(group)
    _fresh_rights(actor)
    access.require(access.can_shape_group(actor, group))
    name = _clean_name(name)
    if name == group.name:
        return group
    _check_name_free(
        organisation_id=group.organisation_id, parent_id=group.parent_id, name=name, exclude=group
    )
    before = _group_state(group)
    group.name = name
    group.save(update_fields=["name"])
    audit.record(
        action="group.rename",
        actor=actor,
        ip=ip,
        group=group,
        obj=group,
        summary=group.name,
        before=before,
        after=_group_state(group),
    )
    return group


@transaction.atomic
def group_move(*, actor, group: Group, new_parent: Group, ip: str | None = None) -> Group:
    """Put `group` (and everything below it) under `new_parent`, within the actor's tree.

    Never into itself or a descendant, never out of the actor's tree, never to
    another organisation. The whole subtree's paths change in one statement.
    """
    group = _lock_tree(group)
    try:
        new_parent = Group.objects.get(pk=new_parent.pk)
    except Group.DoesNotExist as exc:
        raise ValidationError({"parent": _("That group no longer exists.")}) from exc
    _fresh_rights(actor)
    access.require(access.can_move_or_delete_group(actor, group))
    if new_parent.path.startswith(group.path):
        raise ValidationError(
            {"parent": _("A group cannot be moved into itself or one of its sub-groups.")}
        )
    if not access.group_move_targets(actor, group).filter(pk=new_parent.pk).exists():
        raise ValidationError({"parent": _("You can only move a group within your own tree.")})
    if new_parent.pk == group.parent_id:
        return group
    _check_name_free(
        organisation_id=group.organisation_id, parent_id=new_parent.pk, name=group.name
    )
    before = _group_state(group)
    old_path, new_path = group.path, f"{new_parent.path}{group.pk}/"
    Group.objects.filter(pk=group.pk).update(parent=new_parent)
    Group.objects.filter(organisation_id=group.organisation_id, path__startswith=old_path).update(
        path=Concat(Value(new_path), Substr("path", len(old_path) + 1))
    )
    group = Group.objects.select_related("parent", "organisation").get(pk=group.pk)
    audit.record(
        action="group.move",
        actor=actor,
        ip=ip,
        group=group,
        obj=group,
        summary=group.name,
        before=before,
        after=_group_state(group),
    )
    return group


@transaction.atomic
def group_delete(*, actor, group: Group, ip: str | None = None) -> None:
    """Delete an empty group (no sub-groups, no chargers); its memberships go with it."""
    group = _lock_tree(group)
    _fresh_rights(actor)
    access.require(access.can_move_or_delete_group(actor, group))
    group = Group.objects.select_for_update(of=("self",)).select_related("parent").get(pk=group.pk)
    if group.children.exists():
        raise ValidationError(_("Only an empty group can be deleted: move its sub-groups first."))
    if group.chargers.exists():
        raise ValidationError(_("Only an empty group can be deleted: move its chargers first."))
    members = sorted(group.memberships.values_list("user__username", "role"))
    before = _group_state(group) | {"members": [f"{u} ({r})" for u, r in members]}
    # Recorded against the parent: the group's own row is about to go.
    audit.record(
        action="group.delete",
        actor=actor,
        ip=ip,
        group=group.parent,
        obj=group,
        summary=group.name,
        before=before,
    )
    group.delete()


# -- people ------------------------------------------------------------------


def _check_role_ceiling(actor, group: Group, role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": _("Choose a role.")})
    if role not in access.assignable_roles(actor, group):
        raise ValidationError({"role": _("You cannot give a role above your own.")})


def _check_not_last_super_admin(membership: Membership) -> None:
    """A super-admin membership may go only if another active super-admin still covers
    its group (in the group itself or above it): no tree is ever left without one."""
    if membership.role != Role.SUPER_ADMIN:
        return
    covering = (
        Membership.objects.filter(
            role=Role.SUPER_ADMIN,
            user__is_active=True,
            group__organisation_id=membership.group.organisation_id,
            group_id__in=membership.group.ancestor_ids(),
        )
        .exclude(pk=membership.pk)
        .exists()
    )
    if not covering:
        raise ValidationError(
            _("%(user)s is the last super-admin of this tree: appoint another one first.")
            % {"user": membership.user.get_username()}
        )


def _membership_state(membership: Membership) -> dict:
    return {
        "user": membership.user.get_username(),
        "group": membership.group.name,
        "role": membership.role,
    }


def _lock_membership(actor, membership: Membership) -> Membership:
    _lock_tree(membership.group)
    try:
        fresh = Membership.objects.select_related("user", "group__organisation").get(
            pk=membership.pk
        )
    except Membership.DoesNotExist as exc:
        raise ValidationError(_("This membership no longer exists.")) from exc
    _fresh_rights(actor)
    if not access.can_manage_membership(actor, fresh):
        raise PermissionDenied
    return fresh


def invitation_url(user, site_url: str) -> str:
    """The link in an invitation: `site_url` is the portal's address as the inviter used it."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return urljoin(site_url, reverse("groups:invitation", args=[uid, token]))


def _send_invitation(*, user, group: Group, role: str, actor, site_url: str) -> None:
    context = {
        "user": user,
        "group": group,
        "role": Role(role).label,
        "inviter": actor.get_full_name() or actor.get_username(),
        "url": invitation_url(user, site_url),
    }
    subject = "".join(render_to_string("members/invitation_subject.txt", context).splitlines())
    body = render_to_string("members/invitation_email.txt", context)
    try:
        EmailMultiAlternatives(subject, body, to=[user.email]).send()
    except Exception as exc:  # any mail transport failure: the invitation is not made
        raise ValidationError(
            {"email": _("The invitation e-mail could not be sent. Try again later.")}
        ) from exc


@transaction.atomic
def member_invite(
    *, actor, group: Group, email: str, role: str, site_url: str, ip: str | None = None
) -> Membership:
    """Give the person with `email` a role in `group`, creating and inviting them if new.

    A new person (or one who never set a password) gets an e-mail with a link to
    set their password; the membership exists only if the e-mail went out.
    """
    group = _lock_tree(group)
    _fresh_rights(actor)
    access.require(access.can_manage_members_in(actor, group))
    _check_role_ceiling(actor, group, role)
    email = get_user_model().objects.normalize_email((email or "").strip()).lower()
    if not email:
        raise ValidationError({"email": _("Enter an e-mail address.")})
    User = get_user_model()
    matches = list(User.objects.filter(Q(email__iexact=email) | Q(username__iexact=email))[:2])
    if len(matches) > 1:
        raise ValidationError(
            {"email": _("Several accounts use this e-mail address; ask your platform operator.")}
        )
    user = matches[0] if matches else None
    if user is None:
        user = User(username=email, email=email)
        user.set_unusable_password()
        user.save()
    elif Membership.objects.filter(user=user, group=group).exists():
        raise ValidationError({"email": _("This person is already a member of this group.")})
    if not user.is_active:
        raise ValidationError({"email": _("This account is deactivated.")})
    if not user.email:
        user.email = email
        user.save(update_fields=["email"])
    membership = Membership.objects.create(user=user, group=group, role=role)
    audit.record(
        action="member.add",
        actor=actor,
        ip=ip,
        group=group,
        obj=membership,
        summary=user.get_username(),
        after=_membership_state(membership),
    )
    if not user.has_usable_password():
        _send_invitation(user=user, group=group, role=role, actor=actor, site_url=site_url)
    return membership


@transaction.atomic
def member_set_role(
    *, actor, membership: Membership, role: str, ip: str | None = None
) -> Membership:
    membership = _lock_membership(actor, membership)
    _check_role_ceiling(actor, membership.group, role)
    if role == membership.role:
        return membership
    _check_not_last_super_admin(membership)
    before = _membership_state(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    access.clear_cache(membership.user)
    audit.record(
        action="member.role",
        actor=actor,
        ip=ip,
        group=membership.group,
        obj=membership,
        summary=membership.user.get_username(),
        before=before,
        after=_membership_state(membership),
    )
    return membership


@transaction.atomic
def member_remove(*, actor, membership: Membership, ip: str | None = None) -> None:
    membership = _lock_membership(actor, membership)
    _check_not_last_super_admin(membership)
    audit.record(
        action="member.remove",
        actor=actor,
        ip=ip,
        group=membership.group,
        obj=membership,
        summary=membership.user.get_username(),
        before=_membership_state(membership),
    )
    membership.delete()
