"""The Django admin: the platform operators' tool, for superusers only.

Tenants (super-admins, admins, users of groups) do everything in the portal, whose
every screen decides through ``tenancy/access.py``. The admin has no such rules (no
role ceiling, no scope), so it is not a second, weaker rule set for them: the site
(``config.admin_site.PortalAdminSite``) and every model admin here let in active
superusers only, and every write is audited (``tenancy/admin_audit.py``).
"""

from django.contrib import admin

from tenancy.admin_audit import AdminAuditMixin, is_platform_operator
from tenancy.models import AuditEvent, Group, Membership, Organisation, Subscription


class AuditedAdmin(AdminAuditMixin, admin.ModelAdmin):
    """Superusers only (the site checks it too); every write audited."""

    def has_module_permission(self, request):
        return is_platform_operator(request.user)

    def has_view_permission(self, request, obj=None):
        return is_platform_operator(request.user)

    def has_add_permission(self, request):
        return is_platform_operator(request.user)

    def has_change_permission(self, request, obj=None):
        return is_platform_operator(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_platform_operator(request.user)


class ReadOnlyAdmin(AuditedAdmin):
    """History that nobody edits, not even a superuser."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Organisation)
class OrganisationAdmin(AuditedAdmin):
    list_display = ["name", "time_zone", "created_at"]
    search_fields = ["name"]


@admin.register(Subscription)
class SubscriptionAdmin(AuditedAdmin):
    list_display = ["organisation", "plan", "valid_from", "valid_until"]
    list_filter = ["plan"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Group)
class GroupAdmin(AuditedAdmin):
    list_display = ["name", "organisation", "parent", "path"]
    list_filter = ["organisation"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["user", "group", "role"]
    list_filter = ["role"]
    search_fields = ["user__username", "group__name"]
    autocomplete_fields = ["user"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: the audit trail cannot be edited, not even here."""

    list_display = ["at", "actor_name", "action", "summary", "ip_address"]
    list_filter = ["action"]
    search_fields = ["actor_name", "summary", "object_id"]
