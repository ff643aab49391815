"""The Selvhelbredelse form: a group's own policy, or "follow the group above"."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from restarts.healing.models import HealingPolicy


class HealingPolicyForm(forms.ModelForm):
    follow_parent = forms.BooleanField(
        label=_("Follow the group above"),
        required=False,
        help_text=_("Use the self-healing setting of the nearest group above with one."),
    )

    class Meta:
        model = HealingPolicy
        fields = list(HealingPolicy.SETTINGS)

    def __init__(self, *args, has_parent: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not has_parent:
            del self.fields["follow_parent"]
        for name in ("faulted_minutes", "max_per_charger_day", "max_per_group_hour"):
            self.fields[name].widget.attrs["inputmode"] = "numeric"

    def values(self) -> dict | None:
        """The policy to store, or None to follow the group above."""
        if self.cleaned_data.get("follow_parent"):
            return None
        return {name: self.cleaned_data[name] for name in HealingPolicy.SETTINGS}
