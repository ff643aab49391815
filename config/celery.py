"""The Celery application. Workers run with `celery -A config worker`."""

import os

from celery import Celery
from celery.signals import task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _fresh_database_connection(**kwargs) -> None:
    """As Django does per request: drop an expired or broken connection before a task.

    Celery's own per-task close is spaced out by CELERY_DB_REUSE_MAX (settings.py).
    """
    close_old_connections()
