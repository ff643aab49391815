"""Forms to add, edit and move chargers. They read input; the services decide."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from chargers.models import Charger
from tenancy import access
from tenancy.forms import GroupChoiceField

NO_PASSWORD_WARNING = _(
    "No password: anyone who knows the charge point id can connect as this charger"
)


class _ChargerFields(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    model = forms.CharField(label=_("Model"), max_length=100, required=False)
    ocpp_version = forms.ChoiceField(
        label=_("OCPP version"), choices=Charger.OcppVersion.choices, initial="1.6"
    )
    supports_remote_restart = forms.BooleanField(
        label=_("Can be restarted remotely"), required=False, initial=True
    )
    security_profile = forms.TypedChoiceField(
        label=_("Security profile"),
        choices=Charger.SecurityProfile.choices,
        coerce=int,
        # Left out of a post (older clients, scripts): the default on add, unchanged on edit.
        required=False,
        empty_value=None,
        help_text=_(
            "How the charger proves who it is. Profile 2 needs an OCPP password; with "
            "profile 3 the certificate's common name must be the charge point id."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["security_profile"].initial = settings.OCPP_DEFAULT_SECURITY_PROFILE

    def add_group_field(self, user, *, label):
        self.fields["group"] = GroupChoiceField(
            access.manageable_groups(user),
            user=user,
            label=label,
            error_messages={"invalid_choice": _("Choose one of the groups you manage.")},
        )


class ChargerCreateForm(_ChargerFields):
    charge_point_id = forms.CharField(
        label=_("Charge point id"),
        max_length=64,
        help_text=_("The identity the charger uses in its websocket URL."),
    )
    authentication = forms.ChoiceField(
        label=_("OCPP password"),
        widget=forms.RadioSelect,
        choices=[
            ("generate", _("Generate an OCPP password (recommended): shown once")),
            ("none", NO_PASSWORD_WARNING),
        ],
        initial="generate",
    )
    field_order = ["group", "charge_point_id", "name", "model", "ocpp_version"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_group_field(user, label=_("Group"))
        self.order_fields(self.field_order)


class ChargerEditForm(_ChargerFields):
    password = forms.ChoiceField(
        label=_("OCPP password"),
        choices=[
            ("keep", _("Keep as it is")),
            ("new", _("Make a new one (shown once)")),
            (
                "remove",
                _("Remove: anyone who knows the charge point id can connect as this charger"),
            ),
        ],
        initial="keep",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_group_field(user, label=_("Group"))


class ChargersMoveForm(forms.Form):
    """The target group of a move. The ticked chargers travel as they came; ids the
    user cannot manage are the service's "unknown charger" error, the same as ids
    that do not exist."""

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"] = GroupChoiceField(
            access.manageable_groups(user),
            user=user,
            label=_("Move to group"),
            error_messages={"invalid_choice": _("Choose one of the groups you manage.")},
        )
        self.fields["group"].widget.attrs["autofocus"] = True
