"""Read-only admin (superusers) for restart history: restarts are made on the Opladere page
or the API."""

from django.contrib import admin

from restarts.healing.models import HealingCase, HealingPolicy
from restarts.models import RestartJob, RestartRequest
from tenancy.admin import ReadOnlyAdmin


class RestartJobInline(admin.TabularInline):
    model = RestartJob
    extra = 0
    fields = ["charger", "state", "reset_type", "confirmed_by", "detail", "sent_at", "finished_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("charger")


@admin.register(RestartRequest)
class RestartRequestAdmin(ReadOnlyAdmin):
    list_display = ["requested_at", "requested_by_name", "source", "mode", "ip_address"]
    list_filter = ["source", "mode"]
    search_fields = ["requested_by_name"]
    inlines = [RestartJobInline]


@admin.register(RestartJob)
class RestartJobAdmin(ReadOnlyAdmin):
    list_display = ["charger", "state", "reset_type", "confirmed_by", "created_at", "finished_at"]
    list_filter = ["state", "reset_type", "confirmed_by"]
    search_fields = ["charger__name", "charger__charge_point_id"]
    list_select_related = ["charger"]


@admin.register(HealingPolicy)
class HealingPolicyAdmin(ReadOnlyAdmin):
    """Set on the group's Selvhelbredelse page (super-admins), audited there."""

    list_display = ["group", "enabled", "faulted_minutes", "unresponsive", "updated_at"]
    list_filter = ["enabled"]
    list_select_related = ["group"]


@admin.register(HealingCase)
class HealingCaseAdmin(ReadOnlyAdmin):
    list_display = ["charger", "rule", "step", "outcome", "opened_at", "closed_at"]
    list_filter = ["rule", "outcome"]
    search_fields = ["charger__name", "charger__charge_point_id"]
    list_select_related = ["charger"]
