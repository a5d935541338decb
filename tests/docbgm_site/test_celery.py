"""A real worker process receives a task over each broker and stores its result in the database."""

import pytest
from django_celery_results.models import TaskResult

from docbgm_site.celery import ping

pytestmark = pytest.mark.worker


@pytest.mark.parametrize("broker", ["filesystem", "redis"])
def test_worker_round_trip(celery_worker_factory, broker):
    worker = celery_worker_factory(broker)
    result = ping.delay(41)
    value = worker.wait_result(result, timeout=90)
    assert value["pong"] == 41
    assert value["pid"] == worker.proc.pid
    stored = TaskResult.objects.get(task_id=result.id)
    assert stored.status == "SUCCESS"
    assert stored.task_name == "docbgm.ping"


def test_task_defaults_suit_long_idempotent_jobs(settings):
    from docbgm_site.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_time_limit > app.conf.task_soft_time_limit > 0
    assert app.conf.result_backend == "django-db"
