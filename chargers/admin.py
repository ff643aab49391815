from django.contrib import admin

from chargers.access import manageable_chargers
from chargers.models import Charger
from tenancy.admin import ScopedAdmin


@admin.register(Charger)
class ChargerAdmin(ScopedAdmin):
    list_display = [
        "name",
        "charge_point_id",
        "group",
        "model",
        "ocpp_version",
        "supports_remote_restart",
        "is_connected",
        "last_status",
        "last_seen_at",
    ]
    list_filter = ["is_connected", "ocpp_version", "supports_remote_restart", "last_status"]
    search_fields = ["name", "charge_point_id", "serial_number"]
    list_select_related = ["group"]
    readonly_fields = [
        "password_hash",
        "is_connected",
        "connected_at",
        "disconnected_at",
        "last_seen_at",
        "last_boot_at",
        "last_status",
        "last_status_at",
    ]

    def scope(self, request, qs):
        return qs.filter(pk__in=manageable_chargers(request.user))
