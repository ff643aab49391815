"""The admin site: the platform operators' tool, for active superusers only.

Staff status alone opens nothing here: tenants (whatever their portal role) work in
the portal, where ``tenancy/access.py`` decides. Every model admin registered on this
site writes the audit trail (``tenancy.admin_audit.AdminAuditMixin``), Django's own
user admin included.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.utils.translation import gettext_lazy as _

from tenancy.admin_audit import AdminAuditMixin, is_platform_operator


class SuperuserAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": _(
            "Enter the username and password of a platform superuser. "
            "Staff status or a role in the portal does not open the admin."
        ),
    }

    def confirm_login_allowed(self, user):
        if not is_platform_operator(user):
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class PortalAdminSite(admin.AdminSite):
    site_header = _("Platform administration: superusers only")
    site_title = _("Platform administration")
    index_title = _("Platform administration")
    login_form = SuperuserAuthenticationForm
    login_template = "admin/portal_login.html"

    def has_permission(self, request):
        return is_platform_operator(request.user)

    def register(self, model_or_iterable, admin_class=None, **options):
        """Every model admin on this site is audited, whoever wrote it."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AdminAuditMixin):
            admin_class = type(f"Audited{admin_class.__name__}", (AdminAuditMixin, admin_class), {})
        super().register(model_or_iterable, admin_class, **options)
