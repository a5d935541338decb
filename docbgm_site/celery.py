"""The Celery app. Broker and defaults come from settings (CELERY_* names)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docbgm_site.settings")

app = Celery("docbgm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="docbgm.ping")
def ping(value: int) -> dict:
    """The smallest real job: proves that a worker received, ran and stored a result."""
    return {"pong": value, "pid": os.getpid()}
