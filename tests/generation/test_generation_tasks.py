"""generation/tasks.py: stimulus sets built by a real Celery worker process, including one killed mid-job."""

import time
from pathlib import Path

import pytest

from generation.models import StimulusSet
from generation.services import stimulus_set_request
from tests.generation import stimuli_fixtures
from tests.generation.stimuli_fixtures import CORPUS

pytestmark = pytest.mark.worker
heldout_corpus = stimuli_fixtures.heldout_corpus


def wait_for(predicate, worker, *, timeout: float = 120.0, what: str = "the set"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            raise AssertionError(f"worker exited early:\n{worker.log.read_text()}")
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not done within {timeout}s; worker log:\n{worker.log.read_text()}")


def test_a_worker_builds_the_requested_set_and_records_failures(celery_worker_factory, heldout_corpus):
    worker = celery_worker_factory("filesystem")
    ready = stimulus_set_request(source="real", items=2, seconds=4.0, corpus=CORPUS)
    failing = stimulus_set_request(source="low_anchor", items=40, seconds=4.0, corpus=CORPUS)

    def finished():
        sets = StimulusSet.objects.filter(pk__in=[ready.pk, failing.pk])
        return all(s.status in ("ready", "failed") for s in sets) and sets

    wait_for(finished, worker)
    ready.refresh_from_db()
    failing.refresh_from_db()
    assert ready.status == "ready", ready.error
    assert (ready.progress_done, ready.progress_total, ready.stimuli.count()) == (2, 2, 2)
    assert ready.attempts == 1
    assert failing.status == "failed"
    assert "40 items were asked for" in failing.error
    assert failing.stimuli.count() == 0
    # Asking again for the built set queues nothing new and returns it as it is.
    assert stimulus_set_request(source="real", items=2, seconds=4.0, corpus=CORPUS).pk == ready.pk


def test_a_worker_killed_mid_build_is_replaced_and_the_set_is_made_once(
    celery_worker_factory, heldout_corpus, settings
):
    first = celery_worker_factory("filesystem")
    requested = stimulus_set_request(source="real", items=5, seconds=12.0, corpus=CORPUS)

    def started():
        s = StimulusSet.objects.get(pk=requested.pk)
        return s.status == "running" and s.progress_done >= 1 and s

    wait_for(started, first, what="the first clip")
    first.proc.kill()  # SIGKILL: no cleanup, no acknowledgement
    first.proc.wait()
    interrupted = StimulusSet.objects.get(pk=requested.pk)
    assert interrupted.status == "running"
    assert 1 <= interrupted.progress_done < 5
    assert interrupted.stimuli.count() == 0  # nothing is published before the end

    second = celery_worker_factory("filesystem")
    wait_for(lambda: StimulusSet.objects.get(pk=requested.pk).status == "ready", second)
    built = StimulusSet.objects.get(pk=requested.pk)
    assert built.attempts == 2
    assert built.stimuli.count() == 5
    assert StimulusSet.objects.count() == 1
    # The killed build's clips were replaced under the same opaque names: no orphan files are left.
    audio = sorted(p.name for p in (Path(settings.MEDIA_ROOT) / "stimuli/audio").iterdir())
    assert audio == sorted(Path(s.audio.name).name for s in built.stimuli.all())
    assert "queued interrupted or pending stimulus set builds again" in second.log.read_text()
