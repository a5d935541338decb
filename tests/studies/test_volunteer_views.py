"""The volunteer pages (studies/volunteer/views.py) through Django's test client."""

import ast
import inspect
import io
import re
from datetime import timedelta

import pytest
import soundfile as sf
from django.utils import timezone

from studies import services
from studies.models import DEFAULT_SCALE_DEFINITIONS, Participant, Trial
from studies.volunteer import messages
from tests.studies.factories import OpenStudyFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    return OpenStudyFactory(slug="listen", title="Film music study", description="We study melodies.")


def join(client, study, **extra):
    data = {"consent": "on", "consent_version": study.consent_version, **extra}
    return client.post(f"/s/{study.slug}/", data)


def test_entry_page_shows_study_consent_and_carries_prolific_ids(client, study):
    response = client.get(f"/s/{study.slug}/?PROLIFIC_PID=pp123&STUDY_ID=st9&SESSION_ID=se7")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Film music study" in html and "We study melodies." in html and "I agree to take part." in html
    assert 'value="pp123"' in html and 'value="st9"' in html and 'value="se7"' in html
    assert "15 short pieces of music (3 groups of 5)" in html
    assert response["Cache-Control"].startswith("max-age=0")


def test_consent_is_required_and_nothing_is_created_without_it(client, study):
    response = client.post(f"/s/{study.slug}/", {"consent_version": study.consent_version})
    assert response.status_code == 400
    assert "Please give your consent" in response.content.decode()
    assert Participant.objects.count() == 0


def test_joining_records_questionnaire_and_prolific_ids_then_resumes(client, study):
    response = join(
        client,
        study,
        prolific_pid="pp123",
        study_id="st9",
        session_id="se7",
        age_band="25-34",
        musical_training="2-5",
        listening_device="",
    )
    assert response.status_code == 302 and response["Location"] == f"/s/{study.slug}/go/"
    participant = Participant.objects.get()
    assert participant.questionnaire == {"age_band": "25-34", "musical_training": "2-5"}
    assert (participant.prolific_pid, participant.prolific_study_id, participant.prolific_session_id) == (
        "pp123",
        "st9",
        "se7",
    )
    assert participant.language == "en"
    # The entry page now sends the volunteer back to where they are.
    assert client.get(f"/s/{study.slug}/")["Location"] == f"/s/{study.slug}/go/"
    page = client.get(f"/s/{study.slug}/go/").content.decode()
    assert "Volume check" in page
    assert participant.token not in page and f"/s/{study.slug}/api/volume/" in page


def test_outdated_consent_is_refused_with_the_services_message(client, study):
    response = join(client, study, consent_version="0")
    assert response.status_code == 400
    assert "The consent text has changed" in response.content.decode()
    assert Participant.objects.count() == 0


def test_draft_is_not_found_and_closed_study_says_so(client, study):
    services.study_close(study=study)
    response = client.get(f"/s/{study.slug}/")
    assert response.status_code == 200 and "This study has closed." in response.content.decode()
    assert join(client, study).status_code == 200 and Participant.objects.count() == 0
    assert client.get("/s/no-such-study/").status_code == 404


def test_a_participant_who_left_mid_study_finds_it_closed(client, study):
    join(client, study)
    services.study_close(study=study)
    assert "This study has closed." in client.get(f"/s/{study.slug}/go/").content.decode()


def skip_screening(client, study) -> Participant:
    join(client, study)
    participant = Participant.objects.get()
    services.participant_record_volume_check(participant=participant)
    services.participant_record_headphone_check(participant=participant, correct=6, total=6)
    return participant


def test_trial_page_has_scales_progress_and_only_opaque_urls(client, study):
    participant = skip_screening(client, study)
    practice = participant.trials.get(is_practice=True)
    page = client.get(f"/s/{study.slug}/go/").content.decode()
    assert "Practice" in page and "It is not counted" in page
    assert f"/s/{study.slug}/clip/{practice.public_id}/" in page
    for label in ("Naturalness", "Creativity", "Musicality"):
        assert label in page
    assert DEFAULT_SCALE_DEFINITIONS["creativity"] in page
    assert len(re.findall(r'type="radio"', page)) == 15
    assert "autoplay" not in page
    Trial.objects.filter(pk=practice.pk).update(first_played_at=timezone.now() - timedelta(seconds=5))
    services.rating_submit(
        participant=participant, public_id=practice.public_id, naturalness=2, creativity=2, musicality=2
    )
    first = participant.trials.get(group=1, position=1)
    page = client.get(f"/s/{study.slug}/go/").content.decode()
    assert "Group 1 of 3, clip 1 of 5" in page and first.public_id in page
    for leak in [first.stimulus.audio.name, first.condition.name, first.stimulus.stimulus_set.name]:
        assert leak not in page


def test_clip_is_served_only_to_its_participant_with_ranges(client, study, django_user_model):
    participant = skip_screening(client, study)
    trial = participant.trials.get(group=2, position=3)
    url = f"/s/{study.slug}/clip/{trial.public_id}/"
    whole = client.get(url)
    body = b"".join(whole.streaming_content)
    assert whole.status_code == 200 and whole["Content-Type"] == "audio/mpeg"
    assert whole["Cache-Control"] == "private, no-store" and whole["Content-Disposition"] == "inline"
    assert body == trial.stimulus.audio.read() and sf.info(io.BytesIO(body)).duration == pytest.approx(
        1.0, abs=0.1
    )
    part = client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and b"".join(part.streaming_content) == body[10:20]
    assert part["Content-Range"] == f"bytes 10-19/{len(body)}"
    # Another volunteer's browser, and a browser with no session, get nothing.
    other = ParticipantFactory(study=study)
    assert client.get(f"/s/{study.slug}/clip/{other.trials.first().public_id}/").status_code == 404
    client.cookies.clear()
    assert client.get(url).status_code == 404


def test_headphone_sound_and_tone_are_wav_and_the_answer_stays_on_the_server(client, study):
    join(client, study)
    sound = client.get(f"/s/{study.slug}/sound/check/")
    data = b"".join(sound.streaming_content)
    samples, rate = sf.read(io.BytesIO(data))
    assert sound.status_code == 200 and rate == 22050 and samples.shape == (3 * 22050 + 2 * 11025, 2)
    assert sound["Cache-Control"] == "private, no-store"
    # Reloading plays the same sound (the plan is kept in the session).
    assert b"".join(client.get(f"/s/{study.slug}/sound/check/").streaming_content) == data
    tone = client.get(f"/s/{study.slug}/sound/tone/")
    assert sf.info(io.BytesIO(b"".join(tone.streaming_content))).duration == pytest.approx(2.0)
    services.participant_record_volume_check(participant=Participant.objects.get())
    page = client.get(f"/s/{study.slug}/go/").content.decode()
    assert "Sound 1 of 6" in page and f"/s/{study.slug}/api/headphones/1/" in page
    assert "answers" not in page and "seeds" not in page


def test_done_page_completes_and_shows_code_and_redirect(client, study):
    study.redirect_url = "https://app.prolific.com/submissions/complete?cc=TESTCODE"
    study.save()
    participant = skip_screening(client, study)
    Trial.objects.filter(participant=participant).update(
        first_played_at=timezone.now() - timedelta(seconds=5)
    )
    for trial in participant.trials.all():
        services.rating_submit(
            participant=participant, public_id=trial.public_id, naturalness=4, creativity=4, musicality=4
        )
    page = client.get(f"/s/{study.slug}/go/").content.decode()
    participant.refresh_from_db()
    assert participant.status == Participant.Status.COMPLETED
    assert "TESTCODE" in page and 'http-equiv="refresh"' in page and study.redirect_url in page
    assert "TESTCODE" in client.get(f"/s/{study.slug}/go/").content.decode()


def test_failed_screening_ends_politely(client, study):
    join(client, study)
    participant = Participant.objects.get()
    services.participant_record_volume_check(participant=participant)
    services.participant_record_headphone_check(participant=participant, correct=2, total=6)
    page = client.get(f"/s/{study.slug}/go/").content.decode()
    assert "This study needs headphones" in page and "Your session has ended" in page


def test_pages_follow_the_browser_language_and_the_switch(client, study):
    page = client.get(f"/s/{study.slug}/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).content.decode()
    assert "同意" in page and 'lang="zh-hans"' in page
    client.post("/i18n/setlang/", {"language": "en", "next": f"/s/{study.slug}/"})
    page = client.get(f"/s/{study.slug}/", headers={"Accept-Language": "zh-CN"}).content.decode()
    assert "Consent" in page and 'lang="en"' in page


def _raised_messages(source: str) -> set[str]:
    """Every literal message a StudyError is raised with in the volunteer-facing services."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            arg = node.exc.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
            elif isinstance(arg, ast.IfExp):
                found |= {b.value for b in (arg.body, arg.orelse) if isinstance(b, ast.Constant)}
    return found


def test_every_message_a_volunteer_can_meet_is_in_the_catalog_list():
    volunteer_services = [
        services._check_open,
        services.participant_join,
        services._check_live,
        services.participant_record_headphone_check,
        services._trial_of,
        services.trial_record_play,
        services._scale_value,
        services._rating_submit,
        services.participant_complete,
    ]
    raised = set().union(*(_raised_messages(inspect.getsource(f).strip()) for f in volunteer_services))
    raised = {m for m in raised if "{" not in m}
    assert raised, "the services raise literal messages"
    assert raised <= set(messages.SERVICE_MESSAGES) - {""}
    assert messages.DEFAULT_SCALE_DEFINITIONS == DEFAULT_SCALE_DEFINITIONS
