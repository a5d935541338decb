"""Researcher pages and API of the generation app: Django's client, and Chromium with a real worker."""

import json
import pickle
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from playwright.sync_api import expect

from generation.models import Checkpoint, StimulusSet
from generation.services import stimulus_set_build, stimulus_set_request
from tests.generation import stimuli_fixtures
from tests.generation.factories import StimulusSetFactory
from tests.generation.stimuli_fixtures import CORPUS

heldout_corpus = stimuli_fixtures.heldout_corpus
tiny_checkpoint = stimuli_fixtures.tiny_checkpoint


@pytest.fixture
def researcher(django_user_model):
    user = django_user_model.objects.create_user(username="ana", password="pw-ana-123")
    user.groups.add(Group.objects.get_or_create(name="researcher")[0])
    return user


@pytest.fixture
def research_client(client, researcher):
    client.force_login(researcher)
    return client


def files_of(weights_path, *, weights: bytes | None = None):
    return {
        "weights": SimpleUploadedFile(
            "w.safetensors", weights if weights is not None else weights_path.read_bytes()
        ),
        "sidecar": SimpleUploadedFile("w.json", weights_path.with_suffix(".json").read_bytes()),
    }


@pytest.mark.django_db
def test_pages_are_for_researchers_only(client, django_user_model):
    home = reverse("generation:home")
    assert client.get(home).status_code == 302
    client.force_login(django_user_model.objects.create_user(username="someone"))
    assert client.get(home).status_code == 403
    assert client.post(reverse("generation-api:stimulus-sets"), {"source": "real"}).status_code == 403


@pytest.mark.django_db
def test_upload_form_stores_a_checkpoint_or_says_why_not(research_client, tiny_checkpoint):
    url = reverse("generation:checkpoint-upload")
    response = research_client.post(url, {**files_of(tiny_checkpoint), "label": "mine"}, follow=True)
    assert "Checkpoint stored" in response.content.decode()
    assert Checkpoint.objects.get().label == "mine"
    response = research_client.post(url, files_of(tiny_checkpoint, weights=pickle.dumps([1])), follow=True)
    text = response.content.decode()
    assert "Upload refused" in text and "pickle" in text
    assert Checkpoint.objects.count() == 1


@pytest.mark.django_db
def test_request_form_queues_one_set_and_shows_its_page(research_client, django_capture_on_commit_callbacks):
    data = {"source": "real", "items": 3, "seconds": 4, "seed": 0, "temperature": 1}
    with django_capture_on_commit_callbacks() as callbacks:
        response = research_client.post(reverse("generation:set-request"), data)
    assert len(callbacks) == 1
    stimulus_set = StimulusSet.objects.get()
    assert response["Location"] == reverse("generation:set-detail", args=[stimulus_set.pk])
    page = research_client.get(response["Location"]).content.decode()
    assert "real v1" in page and re.search(r'id="set-done">0</span> of <span id="set-total">3', page)
    status = research_client.get(reverse("generation:set-status", args=[stimulus_set.pk])).json()
    assert (status["status"], status["progress_done"], status["progress_total"]) == ("pending", 0, 3)
    # The same request again goes to the same set.
    with django_capture_on_commit_callbacks() as callbacks:
        research_client.post(reverse("generation:set-request"), data)
    assert callbacks == [] and StimulusSet.objects.count() == 1
    refused = research_client.post(
        reverse("generation:set-request"), {**data, "source": "generated"}, follow=True
    )
    assert "needs a checkpoint" in refused.content.decode()


@pytest.mark.django_db
def test_a_ready_set_lists_its_clips_with_players(research_client, heldout_corpus):
    stimulus_set = stimulus_set_request(source="real", items=2, seconds=4.0, corpus=CORPUS, queue=False)
    stimulus_set_build(stimulus_set_id=stimulus_set.pk)
    page = research_client.get(reverse("generation:set-detail", args=[stimulus_set.pk])).content.decode()
    assert page.count("<audio controls") == 2
    # The set's symbolic metrics are shown on its page (a real-music set is shown on its own).
    assert 'id="symbolic-metrics-table"' in page
    assert 'data-metric="chord_tone_ratio"' in page
    clip = stimulus_set.stimuli.first()
    response = research_client.get(reverse("generation:stimulus-audio", args=[clip.pk, "mp3"]))
    assert response["Content-Type"] == "audio/mpeg"
    assert b"".join(response.streaming_content) == Path(clip.audio.path).read_bytes()
    assert research_client.get(reverse("generation:stimulus-audio", args=[clip.pk, "exe"])).status_code == 404
    status = research_client.get(reverse("generation:set-status", args=[stimulus_set.pk])).json()
    assert [s["audio_sha256"] for s in status["stimuli"]] == [
        s.audio_sha256 for s in stimulus_set.stimuli.all()
    ]


@pytest.mark.django_db
def test_clip_answers_ranges_so_the_researchers_player_can_seek(research_client):
    clip = StimulusSetFactory(items=1).stimuli.get()
    stored = Path(clip.audio.path).read_bytes()
    url = reverse("generation:stimulus-audio", args=[clip.pk, "mp3"])
    whole = research_client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    assert whole["Content-Length"] == str(len(stored))
    assert whole["Cache-Control"] == "private, max-age=3600"
    # The stored name is opaque; the researcher's download names the set, version and item.
    label = f"{clip.stimulus_set.name}-v1-{clip.item_key}.mp3"
    assert whole["Content-Disposition"] == f'inline; filename="{label}"'
    part = research_client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part["Content-Type"] == "audio/mpeg"
    assert b"".join(part.streaming_content) == stored[:100]
    assert part["Content-Range"] == f"bytes 0-99/{len(stored)}" and part["Content-Length"] == "100"
    beyond = research_client.get(url, headers={"Range": f"bytes={len(stored)}-"})
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{len(stored)}"
    assert (
        research_client.get(reverse("generation:stimulus-audio", args=[clip.pk, "flac"])).status_code == 404
    )


@pytest.mark.django_db
def test_api_upload_request_and_status(research_client, tiny_checkpoint, django_capture_on_commit_callbacks):
    response = research_client.post(reverse("generation-api:checkpoints"), files_of(tiny_checkpoint))
    assert response.status_code == 201, response.content
    checkpoint_id = response.json()["id"]
    truncated = research_client.post(
        reverse("generation-api:checkpoints"),
        files_of(tiny_checkpoint, weights=tiny_checkpoint.read_bytes()[:50]),
    )
    assert truncated.status_code == 400
    assert "truncated" in json.dumps(truncated.json())
    body = {"source": "generated", "checkpoint": checkpoint_id, "items": 3, "seconds": 4}
    with django_capture_on_commit_callbacks() as callbacks:
        first = research_client.post(
            reverse("generation-api:stimulus-sets"), body, content_type="application/json"
        )
        second = research_client.post(
            reverse("generation-api:stimulus-sets"), body, content_type="application/json"
        )
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert len(callbacks) == 1
    status = research_client.get(first.json()["status_url"]).json()
    assert (status["name"], status["version"], status["status"], status["progress_total"]) == (
        "proposed",
        1,
        "pending",
        3,
    )
    bad = research_client.post(
        reverse("generation-api:stimulus-sets"),
        {"source": "real", "checkpoint": checkpoint_id},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "checkpoint" in bad.json()["detail"]
    assert research_client.get(reverse("api-schema")).status_code == 200


@pytest.mark.browser
def test_upload_and_regenerate_in_the_browser_with_live_progress(
    page, live_server, celery_worker_factory, heldout_corpus, tiny_checkpoint, researcher, settings, client
):
    settings.GENERATION_STIMULUS_CORPUS = CORPUS
    worker = celery_worker_factory("filesystem")
    # The login page is the studies app's; a session made by Django's client stands in for it.
    client.force_login(researcher)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/researcher/generation/")
    page.set_input_files("#upload-form input[name=weights]", str(tiny_checkpoint))
    page.set_input_files("#upload-form input[name=sidecar]", str(tiny_checkpoint.with_suffix(".json")))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("text=Checkpoint stored")
    checkpoint = Checkpoint.objects.get()
    page.select_option("#request-form select[name=source]", "generated")
    page.select_option("#request-form select[name=checkpoint]", str(checkpoint.pk))
    page.fill("#request-form input[name=items]", "3")
    page.fill("#request-form input[name=seconds]", "4")
    page.click("#request-form button[type=submit]")
    page.wait_for_url(re.compile(r"/researcher/generation/sets/\d+/$"))
    # The page follows the worker by itself: no reload by hand until the clips are there.
    # A locator, not wait_for_function: the page's Content-Security-Policy forbids eval'd script.
    expect(page.locator("#set-status")).to_have_text(re.compile(r"^\s*ready\s*$", re.I), timeout=90_000)
    page.wait_for_selector("#clips audio", timeout=30_000)
    assert page.locator("#clips audio").count() == 3
    assert page.locator("#set-done").inner_text() == "3"
    stimulus_set = StimulusSet.objects.get()
    assert (stimulus_set.status, stimulus_set.name, stimulus_set.version) == ("ready", "proposed", 1)
    assert worker.proc.poll() is None
