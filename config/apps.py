from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project's own commands (`run_stack`, `seed_demo`); it has no models."""

    name = "config"
    verbose_name = "Project"
