"""Admin site, scoped through tenancy.access: staff who are not superusers see
only the organisations, groups, members and chargers of their own trees."""

from django.contrib import admin

from tenancy import access
from tenancy.models import AuditEvent, Group, Membership, Organisation, Subscription


class ScopedAdmin(admin.ModelAdmin):
    """Limits the queryset to what `scope(user)` returns for non-superusers."""

    def scope(self, request, qs):  # pragma: no cover - overridden
        raise NotImplementedError

    def role_allows(self, request) -> bool:
        """Staff act in the admin by their portal role, not by Django model permissions."""
        return access.can_manage_any(request.user)

    def _allowed(self, request) -> bool:
        user = request.user
        return user.is_active and (
            user.is_superuser or (user.is_staff and self.role_allows(request))
        )

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request)

    def has_add_permission(self, request):
        return self._allowed(request)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else self.scope(request, qs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            if db_field.related_model is Group:
                kwargs["queryset"] = access.manageable_groups(request.user)
            elif db_field.related_model is Organisation:
                kwargs["queryset"] = Organisation.objects.filter(
                    groups__in=access.tree_groups(request.user)
                ).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Organisation)
class OrganisationAdmin(ScopedAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]

    def scope(self, request, qs):
        return qs.filter(groups__in=access.visible_groups(request.user)).distinct()


@admin.register(Subscription)
class SubscriptionAdmin(ScopedAdmin):
    list_display = ["organisation", "plan", "valid_from", "valid_until"]
    list_filter = ["plan"]

    def scope(self, request, qs):
        return qs.filter(organisation__groups__in=access.visible_groups(request.user)).distinct()

    def has_change_permission(self, request, obj=None):
        # Plans are sold, not self-served: only platform superusers change them.
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Group)
class GroupAdmin(ScopedAdmin):
    list_display = ["name", "organisation", "parent", "path"]
    list_filter = ["organisation"]
    search_fields = ["name"]
    inlines = [MembershipInline]

    def scope(self, request, qs):
        return qs.filter(pk__in=access.tree_groups(request.user))


@admin.register(Membership)
class MembershipAdmin(ScopedAdmin):
    list_display = ["user", "group", "role"]
    list_filter = ["role"]
    search_fields = ["user__username", "group__name"]
    autocomplete_fields = ["user"]

    def scope(self, request, qs):
        return qs.filter(group__in=access.tree_groups(request.user))


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedAdmin):
    """Read-only: the audit trail cannot be edited from the portal."""

    list_display = ["at", "actor_name", "action", "summary", "ip_address"]
    list_filter = ["action"]
    search_fields = ["actor_name", "summary", "object_id"]

    def scope(self, request, qs):
        return qs.filter(pk__in=access.audit_events(request.user))

    def role_allows(self, request) -> bool:
        return access.tree_groups(request.user).exists()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
