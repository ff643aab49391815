from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    name = "tenancy"
    # The app was `portal` before the re-cut. Its label stays, so a deployed database
    # (migration history, tables, content types and permissions), the admin's URLs
    # (/admin/portal/…) and the audit trail's object types ("portal.group") are unchanged.
    label = "portal"
    verbose_name = _("Portal")
