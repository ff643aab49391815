from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChargersConfig(AppConfig):
    name = "chargers"
    verbose_name = _("Chargers")

    def ready(self) -> None:
        from chargers import checks  # noqa: F401 - registers the system checks
