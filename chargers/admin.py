from django.contrib import admin

from chargers.models import Charger
from tenancy.admin import AuditedAdmin

# What the gateway writes, and the stored password hash: never typed in.
GATEWAY_FIELDS = [
    "password_hash",
    "is_connected",
    "connected_at",
    "disconnected_at",
    "last_seen_at",
    "last_boot_at",
    "last_status",
    "last_status_at",
]


@admin.register(Charger)
class ChargerAdmin(AuditedAdmin):
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
    readonly_fields = GATEWAY_FIELDS

    def get_readonly_fields(self, request, obj=None):
        # The charge point id is the charger's identity (its password and certificate are
        # bound to it): set once when it is added, never changed under a live charger.
        if obj is not None:
            return [*GATEWAY_FIELDS, "charge_point_id"]
        return GATEWAY_FIELDS
