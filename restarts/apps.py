from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RestartsConfig(AppConfig):
    name = "restarts"
    verbose_name = _("Restarts")
