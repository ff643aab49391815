from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OcppGatewayConfig(AppConfig):
    name = "ocpp_gateway"
    verbose_name = _("OCPP gateway")
