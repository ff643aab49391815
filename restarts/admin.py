"""Read-only admin for restart history: restarts are made on the Opladere page or the API."""

from django.contrib import admin

from chargers.access import manageable_chargers
from restarts.models import RestartJob, RestartRequest
from tenancy.admin import ScopedAdmin


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RestartJobInline(ReadOnlyMixin, admin.TabularInline):
    model = RestartJob
    extra = 0
    fields = ["charger", "state", "reset_type", "confirmed_by", "detail", "sent_at", "finished_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("charger")
        if request.user.is_superuser:
            return qs
        return qs.filter(charger__in=manageable_chargers(request.user))


@admin.register(RestartRequest)
class RestartRequestAdmin(ReadOnlyMixin, ScopedAdmin):
    list_display = ["requested_at", "requested_by_name", "source", "mode", "ip_address"]
    list_filter = ["source", "mode"]
    search_fields = ["requested_by_name"]
    inlines = [RestartJobInline]

    def scope(self, request, qs):
        mine = RestartJob.objects.filter(charger__in=manageable_chargers(request.user))
        return qs.filter(pk__in=mine.values("request_id"))


@admin.register(RestartJob)
class RestartJobAdmin(ReadOnlyMixin, ScopedAdmin):
    list_display = ["charger", "state", "reset_type", "confirmed_by", "created_at", "finished_at"]
    list_filter = ["state", "reset_type", "confirmed_by"]
    search_fields = ["charger__name", "charger__charge_point_id"]
    list_select_related = ["charger"]

    def scope(self, request, qs):
        return qs.filter(charger__in=manageable_chargers(request.user))
