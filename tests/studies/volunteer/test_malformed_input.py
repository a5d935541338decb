"""Bad input never reveals anything: malformed Range headers answer 416, malformed bodies 400, never 500.

The issue's probes, each sent to every volunteer endpoint with DEBUG on and with DEBUG off: a Range
of 5000 digits on one's own clip (a 500 debug page printed the stored path), a rating of 1e400
(OverflowError), NaN, JSON nested 100 000 deep (RecursionError), and bodies far larger than any
the page sends. Each answer is a 400 (or 416) with a message, and changes nothing.
"""

import json

import pytest
from django.test import Client

from studies.models import Participant, Rating, Trial
from tests.studies.factories import OpenStudyFactory

pytestmark = pytest.mark.django_db

NESTED = "[" * 100_000 + "]" * 100_000
BODIES = {
    "overflow": '{"naturalness": 1e400, "creativity": 1e400, "musicality": 1e400, "event": "play", '
    '"position_s": 1e400, "answer": 1e400}',
    "huge integer": '{"naturalness": 1' + "0" * 5000 + ', "position_s": 1' + "0" * 5000 + "}",
    "nan": '{"naturalness": NaN, "creativity": NaN, "musicality": NaN, "event": "play", '
    '"position_s": NaN, "answer": NaN}',
    "infinity": '{"position_s": Infinity, "answer": -Infinity, "naturalness": Infinity}',
    "nested 100000": NESTED,
    "nested 3000, small": "[" * 3000 + "]" * 3000,
    "nested object": '{"a":' * 3000 + "1" + "}" * 3000,
    "huge": json.dumps({"event": "play", "naturalness": 3, "pad": "x" * (11 << 20)}),
    "not json": "{'event': 'play'",
    "not utf-8": b'{"event": "\xff\xfe"}',
}


@pytest.fixture(params=[True, False], ids=["debug-on", "debug-off"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def volunteer(debug):
    study = OpenStudyFactory(slug="probe", headphone_check=True, volume_check=True)
    client = Client(raise_request_exception=False)
    client.post(f"/s/{study.slug}/", {"consent": "on", "consent_version": study.consent_version})
    participant = Participant.objects.get(study=study)
    return study, client, participant


def endpoints(study, participant) -> list[str]:
    trial = participant.trials.get(is_practice=True)
    return [
        f"/s/{study.slug}/api/volume/",
        f"/s/{study.slug}/api/headphones/1/",
        f"/s/{study.slug}/api/trials/{trial.public_id}/events/",
        f"/s/{study.slug}/api/trials/{trial.public_id}/rating/",
    ]


def snapshot(participant) -> tuple:
    participant.refresh_from_db()
    trials = list(Trial.objects.filter(participant=participant).values_list("plays", "play_events"))
    return participant.status, participant.volume_checked, trials, Rating.objects.count()


@pytest.mark.parametrize("kind", list(BODIES))
def test_a_malformed_body_is_a_400_with_a_message_and_changes_nothing(volunteer, kind):
    study, client, participant = volunteer
    before = snapshot(participant)
    body = BODIES[kind]
    for url in endpoints(study, participant):
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 400, (url, response.status_code, response.content[:300])
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail, url
        assert "Traceback" not in response.content.decode() and "/media" not in response.content.decode()
    assert snapshot(participant) == before


def test_a_huge_consent_form_is_a_400_with_a_message(volunteer):
    study, _, _ = volunteer
    stranger = Client(raise_request_exception=False)
    response = stranger.post(
        f"/s/{study.slug}/",
        "consent=on&consent_version=1&pad=" + "x" * (11 << 20),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert b"too large" in response.content and b"Traceback" not in response.content
    assert Participant.objects.filter(study=study).count() == 1


@pytest.mark.parametrize(
    "header",
    ["bytes=" + "1" * 5000 + "-", "bytes=-" + "9" * 5000, "bytes=0-" + "1" * 5000, "bytes=x-", "bytes=--1"],
    ids=lambda h: f"{h[:12]}..{len(h)}",
)
def test_a_malformed_range_on_ones_own_clip_is_416_and_names_no_file(volunteer, header):
    study, client, participant = volunteer
    trial = participant.trials.get(is_practice=True)
    response = client.get(f"/s/{study.slug}/clip/{trial.public_id}/", headers={"range": header})
    assert response.status_code == 416
    assert response["Content-Range"].startswith("bytes */")
    stored = trial.stimulus.audio.name
    assert response.content == b"" and stored not in str(response.headers)
