from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ProjectConfig(AppConfig):
    """The project's own commands (`run_stack`, `seed_demo`); it has no models."""

    default = True  # "config" in INSTALLED_APPS means this one
    name = "config"
    verbose_name = "Project"


class PortalAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site: superusers only, every write audited."""

    default = False
    default_site = "config.admin_site.PortalAdminSite"
