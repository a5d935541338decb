"""A session belongs to one browser, Prolific IDs are checked, and seats go to real volunteers.

The issue's probes: a second browser that posted consent with someone else's PROLIFIC_PID received
that volunteer's session and could post play events on their trials; 30 anonymous consents in 4 s
filled a target of 30 and turned the next real volunteer away for an hour; a screened-out volunteer
retook the headphone check in a new browser with the same Prolific ID.
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from studies import services
from studies.models import Participant, Trial
from studies.volunteer.views import HUGGINS_SESSION_KEY
from tests.studies.factories import OpenStudyFactory

pytestmark = pytest.mark.django_db

PID = "5f1e2d3c4b5a69788796a5b4"  # Prolific's form: 24 hexadecimal characters


def consent(client: Client, study, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    client.get(f"/s/{study.slug}/?{query}")
    data = {"consent": "on", "consent_version": study.consent_version}
    data |= {field: params.get(param, "") for field, param in (("prolific_pid", "PROLIFIC_PID"),)}
    return client.post(f"/s/{study.slug}/", data)


def api(client, study, path, data=None):
    return client.post(f"/s/{study.slug}/api/{path}", data or {}, content_type="application/json")


def test_a_second_browser_with_the_same_prolific_id_gets_nothing(settings):
    study = OpenStudyFactory(slug="owned")
    owner = Client()
    assert consent(owner, study, PROLIFIC_PID=PID).status_code == 302
    participant = Participant.objects.get(study=study)
    trial = participant.trials.get(is_practice=True)

    intruder = Client()
    response = consent(intruder, study, PROLIFIC_PID=PID)
    assert response.status_code == 409
    assert b"already started this study in another browser" in response.content
    assert "volunteer_tokens" not in intruder.session
    assert (
        participant.token.encode() not in response.content
        and trial.public_id.encode() not in response.content
    )
    # Nothing of the owner's session works from the intruder's browser.
    assert intruder.get(f"/s/{study.slug}/go/").status_code == 302  # back to the consent page
    assert api(intruder, study, f"trials/{trial.public_id}/events/", {"event": "play"}).status_code == 403
    assert intruder.get(f"/s/{study.slug}/clip/{trial.public_id}/").status_code == 404
    trial.refresh_from_db()
    assert trial.plays == 0 and Participant.objects.filter(study=study).count() == 1
    # The owner's browser resumes where it was.
    assert owner.get(f"/s/{study.slug}/").status_code == 302
    assert owner.get(f"/s/{study.slug}/go/").status_code == 200


@pytest.mark.parametrize(
    "pid",
    ["x" * 65, "abc def", "<script>", "a;b", "%00", "é" * 3],
    ids=["long", "space", "tag", "semicolon", "nul", "accent"],
)
def test_a_malformed_prolific_id_is_refused_with_a_clear_message(pid):
    study = OpenStudyFactory(slug="ids")
    client = Client()
    shown = client.get(f"/s/{study.slug}/", {"PROLIFIC_PID": pid})
    assert (
        shown.status_code == 400
        and b"must be 1 to 64 letters, digits, hyphens or underscores" in shown.content
    )
    posted = client.post(
        f"/s/{study.slug}/", {"consent": "on", "consent_version": study.consent_version, "prolific_pid": pid}
    )
    assert posted.status_code == 400 and b"must be 1 to 64 letters" in posted.content
    assert Participant.objects.filter(study=study).count() == 0
    with pytest.raises(services.StudyError, match="1 to 64 letters"):
        services.participant_join(study=study, consent_version=study.consent_version, prolific_pid=pid)


def test_joins_are_rate_limited_per_client_address(settings):
    settings.VOLUNTEER_JOIN_RATE = "10/h"
    study = OpenStudyFactory(slug="burst", target_participants=30)
    answers = [consent(Client(), study).status_code for _ in range(30)]
    assert answers == [302] * 10 + [429] * 20
    limited = Client().post(f"/s/{study.slug}/", {"consent": "on", "consent_version": study.consent_version})
    assert b"Too many people joined from your network" in limited.content
    assert Participant.objects.filter(study=study).count() == 10
    # A volunteer from another address is not held up by the burst.
    assert consent(Client(REMOTE_ADDR="192.0.2.7"), study).status_code == 302


def test_a_seat_counts_only_while_its_volunteer_is_active_or_has_passed_screening(settings):
    settings.VOLUNTEER_JOIN_RATE = "1000/h"
    study = OpenStudyFactory(slug="seats", target_participants=30)
    fakes = [consent(Client(REMOTE_ADDR=f"198.51.100.{k}"), study) for k in range(30)]
    assert all(r.status_code == 302 for r in fakes)
    real = Client(REMOTE_ADDR="192.0.2.1")
    full = consent(real, study)
    assert full.status_code == 400 and b"has all the participants it needs" in full.content
    # Ten minutes later the consents that went no further hold no seat; one that passed screening does.
    passed = Participant.objects.filter(study=study).first()
    services.participant_record_volume_check(participant=passed)
    services.participant_record_headphone_check(participant=passed, correct=6, total=6)
    stale = timezone.now() - timedelta(minutes=services.SCREENING_SEAT_MINUTES + 1)
    Participant.objects.filter(study=study).update(last_seen_at=stale)
    assert services.seats_taken(study=study) == 1
    assert consent(real, study).status_code == 302
    joined = Participant.objects.get(study=study, token=real.session["volunteer_tokens"][study.slug])
    assert joined.trials.count() == 16


def test_a_screened_out_prolific_id_cannot_start_again():
    study = OpenStudyFactory(slug="screen")
    first = Client()
    assert consent(first, study, PROLIFIC_PID=PID).status_code == 302
    assert api(first, study, "volume/").status_code == 200
    first.get(f"/s/{study.slug}/go/")  # the headphone page makes the test's plan
    (plan,) = first.session[HUGGINS_SESSION_KEY].values()
    for number, answer in enumerate(plan["answers"], start=1):
        wrong = (answer + 1) % 3 + 1  # answers are 0-based, the API's 1-3
        assert api(first, study, f"headphones/{number}/", {"answer": wrong}).status_code == 200
    participant = Participant.objects.get(study=study)
    assert participant.status == Participant.Status.SCREENED_OUT

    again = Client()
    response = consent(again, study, PROLIFIC_PID=PID)
    assert response.status_code == 409 and b"can be taken only once" in response.content
    assert "volunteer_tokens" not in again.session
    assert Participant.objects.filter(study=study).count() == 1
    assert Trial.objects.filter(participant__study=study).count() == 16
