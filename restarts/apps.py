from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RestartsConfig(AppConfig):
    name = "restarts"
    verbose_name = _("Restarts")

    def ready(self):
        # Connect the signal receivers, and register the tasks in every process (not
        # only workers): they are enqueued by name (restarts/queue.py), and a registered
        # task honours CELERY_TASK_ALWAYS_EAGER as delay() does. Then add the restart
        # pieces to the charger pages (chargers/extensions.py).
        from restarts import charger_pages, receivers, tasks  # noqa: F401
        from restarts.healing import charger_pages as healing_pages
        from restarts.healing import tasks as healing_tasks  # noqa: F401

        charger_pages.register()
        healing_pages.register()
