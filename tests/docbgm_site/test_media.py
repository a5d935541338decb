"""/media/ (docbgm_site/media.py): stored files for staff only, with DEBUG on or off.

The issue's probe: while DEBUG was on, /media/ was served to anyone, and generated clips were stored
as `<condition>-v<N>/<NN>-<item>.mp3`, so anonymous GETs matched 16 of 16 clips of a session to
their condition. Now nobody but staff gets anything there, whatever the path.
"""

import pytest
from django.test import Client

from tests.factories import UserFactory
from tests.studies.factories import OpenStudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[True, False], ids=["debug-on", "debug-off"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def logged_in(**flags) -> Client:
    client = Client()
    user = UserFactory(researcher=flags.pop("researcher", False))
    for flag, value in flags.items():
        setattr(user, flag, value)
    user.save()
    client.force_login(user)
    return client


def test_media_is_served_to_staff_only(debug):
    study = OpenStudyFactory(slug="media")
    volunteer = Client()
    volunteer.post(f"/s/{study.slug}/", {"consent": "on", "consent_version": study.consent_version})
    trial = study.participants.get().trials.select_related("stimulus").first()
    stored = trial.stimulus.audio
    url = f"/media/{stored.name}"
    data = stored.open("rb").read()
    for client in (Client(), volunteer, logged_in(researcher=True)):
        response = client.get(url)
        assert response.status_code == 404 and data[:64] not in response.content
    # The volunteer still hears the clip through its own opaque URL.
    assert volunteer.get(f"/s/{study.slug}/clip/{trial.public_id}/").status_code == 200

    staff = logged_in(is_staff=True)
    response = staff.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "audio/mpeg"
    assert b"".join(response.streaming_content) == data
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Disposition"].startswith("attachment")
    part = staff.get(url, headers={"range": "bytes=0-9"})
    assert part.status_code == 206 and len(b"".join(part.streaming_content)) == 10


@pytest.mark.parametrize(
    "name", ["../secret_key", "..%2Fsecret_key", "stimuli/../../db.sqlite3", "nothing.mp3"]
)
def test_no_path_escapes_or_exists_for_staff_either(name):
    assert logged_in(is_staff=True).get(f"/media/{name}").status_code == 404
