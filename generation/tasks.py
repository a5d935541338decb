"""Celery jobs of the generation app: thin, they take ids and call one service."""

import logging

from celery import shared_task
from celery.signals import worker_ready

logger = logging.getLogger(__name__)


@shared_task(name="generation.stimulus_set_build")
def stimulus_set_build_task(stimulus_set_id: int) -> dict:
    """Build one stimulus set (idempotent: acks_late redelivers it if the worker dies)."""
    from generation.services import stimulus_set_build

    stimulus_set = stimulus_set_build(stimulus_set_id=stimulus_set_id)
    return {"id": stimulus_set.pk, "status": stimulus_set.status, "done": stimulus_set.progress_done}


@worker_ready.connect
def recover_stimulus_sets(**kwargs) -> None:
    """A starting worker takes up builds whose worker died (the filesystem broker forgets them)."""
    from generation.services import stimulus_set_recover

    try:
        ids = stimulus_set_recover()
    except Exception:  # noqa: BLE001 - e.g. no migrated database yet: the worker must still start
        logger.exception("could not look for interrupted stimulus set builds")
        return
    if ids:
        logger.warning("queued interrupted or pending stimulus set builds again: %s", ids)
