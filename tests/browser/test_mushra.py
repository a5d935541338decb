"""Headless Chromium completes a MUSHRA session in English and in Chinese: every clip heard to
its end (switching clips keeps the playback position), every slider set from the keyboard, and
the server holds exactly the scores given."""

import pytest
from playwright.sync_api import expect

from studies.models import MushraScore, Participant
from tests.browser.page_session import complete_mushra
from tests.studies.factories import OpenStudyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def mushra_study(slug: str, *, scales=None, **kwargs):
    options = {"items_per_volunteer": 2}
    if scales:
        options["scales"] = scales
    return OpenStudyFactory(
        slug=slug,
        test_type="mushra",
        conditions=4,
        design_options=options,
        headphone_check=False,
        volume_check=False,
        **kwargs,
    )


def saved_scores(participant):
    saved = {}
    for score in MushraScore.objects.filter(
        page_clip__page__participant=participant, page_clip__page__is_practice=False
    ).select_related("page_clip__page"):
        clip = score.page_clip
        saved.setdefault(clip.page.public_id, {"scores": {}})["scores"].setdefault(clip.label, {})[
            score.scale
        ] = score.score
    return saved


def test_mushra_session_in_english_with_two_scales(live_server, browser_context):
    # Two-second clips, so that switching from A to B in mid-play can be seen to keep the position.
    study = mushra_study(
        "mushra-en",
        duration_s=2.0,
        scales=[
            {"key": "quality", "label": "Basic audio quality"},
            {"key": "fit", "label": "Fits a documentary"},
        ],
        practice=False,
    )
    page = browser_context(locale="en-US").new_page()
    record = complete_mushra(page, f"{live_server.url}/s/{study.slug}/", seed=3, practice=False)
    assert record.completion_code == "TESTCODE"
    expect(page.locator("h1")).to_have_text("Thank you!")
    assert record.headings == ["Score the clips", "Score the clips"]
    participant = Participant.objects.get(study=study)
    assert participant.status == Participant.Status.COMPLETED
    assert len(record.answers) == 2 and saved_scores(participant) == record.answers
    assert MushraScore.objects.count() == 2 * 4 * 2
    # The switched-to clip B was started once (at A's position) and the clip A twice (once cut off).
    first = participant.pages.get(position=1)
    assert first.clips.get(slot=0).plays == 2 and first.clips.get(slot=1).plays == 1


def test_mushra_session_in_chinese_with_a_practice_page(live_server, browser_context):
    study = mushra_study("mushra-zh", duration_s=0.6)
    page = browser_context(locale="zh-CN").new_page()
    record = complete_mushra(page, f"{live_server.url}/s/{study.slug}/", seed=4, practice=True, switch=False)
    assert record.completion_code == "TESTCODE"
    expect(page.locator("h1")).to_have_text("谢谢！")
    assert record.headings == ["练习", "为片段打分", "为片段打分"]
    participant = Participant.objects.get(study=study)
    assert participant.language == "zh-hans" and saved_scores(participant) == record.answers
    assert participant.pages.get(is_practice=True).public_id == record.practice_id
