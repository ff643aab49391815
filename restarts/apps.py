from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RestartsConfig(AppConfig):
    name = "restarts"
    verbose_name = _("Restarts")

    def ready(self):
        from restarts import charger_pages, receivers  # noqa: F401 - receivers connect on import

        charger_pages.register()
