"""Forms for the group, member and invitation pages. They read and tidy input;
the rules (and the writing) are the services'."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from tenancy import access
from tenancy.models import Group, Membership


def posted(request):
    """The data to bind a form to: the POST on a POST (even an empty one), else none."""
    return request.POST if request.method == "POST" else None


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on its field when the form has
    one, above the form otherwise."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class GroupChoiceField(forms.ModelChoiceField):
    """Groups shown with their place in the tree as far as the user sees it
    ("København / P-hus Syd"); names above what they may see stay hidden."""

    def __init__(self, queryset, *, user, **kwargs):
        super().__init__(queryset.order_by("path"), **kwargs)
        self._names = dict(access.visible_groups(user).values_list("pk", "name"))

    def label_from_instance(self, obj: Group) -> str:
        return " / ".join(self._names[pk] for pk in obj.ancestor_ids() if pk in self._names)


class GroupNameForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)


def _local_time_field(label, invalid, **kwargs) -> forms.TimeField:
    return forms.TimeField(
        label=label,
        required=False,
        input_formats=["%H:%M", "%H.%M"],
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        error_messages={"invalid": invalid},
        **kwargs,
    )


class MaintenanceWindowForm(forms.Form):
    """Two local times (HH:MM); both empty drops the group's own window."""

    start = _local_time_field(_("From"), _("Give a time as HH:MM, e.g. 01:00."))
    end = _local_time_field(
        _("Until"),
        _("Give a time as HH:MM, e.g. 05:00."),
        help_text=_("May be past midnight, e.g. 22:00 until 04:00."),
    )


class GroupMoveForm(forms.Form):
    def __init__(self, *args, user, group: Group, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"] = GroupChoiceField(
            access.group_move_targets(user, group).exclude(pk=group.parent_id),
            user=user,
            label=_("New parent group"),
            error_messages={
                "invalid_choice": _(
                    "Choose a group of your tree that is not this group or one of its sub-groups."
                )
            },
        )


class MemberInviteForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )
    role = forms.ChoiceField(label=_("Role"), initial=Membership.Role.USER)

    def __init__(self, *args, user, group: Group, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(user, group)
        self.fields["role"].error_messages["invalid_choice"] = _(
            "You cannot give a role above your own."
        )


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args, user, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(user, membership.group)
        self.fields["role"].error_messages["invalid_choice"] = _(
            "You cannot give a role above your own."
        )


def role_choices(user, group: Group) -> list[tuple[str, str]]:
    allowed = access.assignable_roles(user, group)
    return [(value, label) for value, label in Membership.Role.choices if value in allowed]
