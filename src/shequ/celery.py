"""The Celery app behind `SHEQU_TASKS_BACKEND=celery` (ARCHITECTURE §2: the same `@task` code on a broker).

Tasks stay plain `django.tasks` tasks; django-tasks-celery registers each with this app when its
module is imported (the backend names this app in settings TASKS OPTIONS "CELERY_APP"). A worker
imports every installed app's `tasks` module (autodiscover below) and each app's `ready()` imports the
rest (registry.handlers), so it knows every task a web process may send.

Configuration comes from the CELERY_* names in settings.py, themselves from SHEQU_BROKER_URL and
SHEQU_RESULT_BACKEND_URL. Start workers with `shequ worker`; `celery -A shequ worker -Q default,imports`
works as well.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shequ.settings")

app = Celery("shequ")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def keep_django_logging(**kwargs: Any) -> None:
    """Logging is Django's LOGGING (SHEQU_LOG_LEVEL); a receiver here tells Celery to add none of its own."""
