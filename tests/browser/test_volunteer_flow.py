"""Headless Chromium completes the whole volunteer flow, in English and in Chinese."""

import pytest
from playwright.sync_api import expect

from studies.models import Participant, Rating
from tests.browser.volunteer_session import complete_session
from tests.studies.factories import OpenStudyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def assert_ratings_saved(record, participant):
    saved = {
        r.trial.public_id: {
            "naturalness": r.naturalness,
            "creativity": r.creativity,
            "musicality": r.musicality,
        }
        for r in Rating.objects.filter(
            trial__participant=participant, trial__is_practice=False
        ).select_related("trial")
    }
    assert len(record.ratings) == 15 and saved == record.ratings
    assert Rating.objects.filter(trial__participant=participant, trial__is_practice=True).count() == 1
    assert participant.trials.get(is_practice=True).public_id == record.practice_id


def test_whole_flow_in_english(live_server, browser_context):
    # The Huggins-pitch test runs in test_blinding.py's session; here the volume check alone.
    study = OpenStudyFactory(
        slug="flow-en", title="Documentary melodies", headphone_check=False, duration_s=0.6
    )
    page = browser_context(locale="en-GB").new_page()
    record = complete_session(
        page,
        f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=pp-en&STUDY_ID=s1&SESSION_ID=x1",
        seed=1,
        volume=True,
        headphones=False,
    )
    assert record.completion_code == "TESTCODE"
    expect(page.locator("h1")).to_have_text("Thank you!")
    participant = Participant.objects.get(study=study)
    assert participant.status == Participant.Status.COMPLETED and participant.prolific_pid == "pp-en"
    assert participant.volume_checked is True and participant.headphone_passed is None
    assert participant.questionnaire == {"age_band": "25-34", "listening_device": "over_ear"}
    assert_ratings_saved(record, participant)
    # Every main trial was played to the end at least once; the reloaded one shows its extra play.
    assert all(t.plays >= 1 and t.ended_at for t in participant.trials.all())


def test_whole_flow_in_chinese_with_prolific_redirect(live_server, browser_context):
    study = OpenStudyFactory(slug="flow-zh", headphone_check=False, volume_check=False, duration_s=0.6)
    study.redirect_url = f"{live_server.url}/?cc=TESTCODE"
    study.save()
    page = browser_context(locale="zh-CN").new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/")
    expect(page.locator("h2").nth(1)).to_have_text("知情同意")
    record = complete_session(
        page, f"{live_server.url}/s/{study.slug}/", seed=2, volume=False, headphones=False, reload_at=5
    )
    assert record.completion_code == "TESTCODE"
    expect(page.locator("h1")).to_have_text("谢谢！")
    participant = Participant.objects.get(study=study)
    assert participant.language == "zh-hans" and participant.status == Participant.Status.COMPLETED
    assert_ratings_saved(record, participant)
    # Saved first, then sent back to the recruiter.
    page.wait_for_url(study.redirect_url, timeout=15_000)
