from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OcppGatewayConfig(AppConfig):
    name = "ocpp_gateway"
    verbose_name = _("OCPP gateway")

    def ready(self) -> None:
        from ocpp_gateway import receivers  # noqa: F401 - connects the signal receivers
