"""Headless Chromium completes a pairwise preference session, in English on a desktop and in
Chinese on a phone (tapping), and the server holds exactly the choices made."""

import pytest
from playwright.sync_api import expect

from studies.models import PairwiseChoice, Participant
from tests.browser.page_session import complete_pairwise
from tests.studies.factories import OpenStudyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def pairwise_study(slug: str, **kwargs):
    return OpenStudyFactory(
        slug=slug,
        test_type="pairwise",
        design_options={
            "pairs_per_volunteer": 3,
            "questions": [
                {"key": "preference", "text": "Which clip do you prefer?"},
                {"key": "fits", "text": "Which fits a documentary about the sea?"},
            ],
        },
        headphone_check=False,
        volume_check=False,
        duration_s=0.6,
        **kwargs,
    )


def saved_choices(participant):
    saved = {}
    for choice in PairwiseChoice.objects.filter(
        page__participant=participant, page__is_practice=False
    ).select_related("page", "chosen"):
        saved.setdefault(choice.page.public_id, {})[choice.question] = choice.chosen.label
    return saved


def test_pairwise_session_in_english(live_server, browser_context):
    study = pairwise_study("pairs-en")
    page = browser_context(locale="en-GB").new_page()
    record = complete_pairwise(
        page, f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=pp-pairs", seed=1, practice=True
    )
    assert record.completion_code == "TESTCODE"
    expect(page.locator("h1")).to_have_text("Thank you!")
    assert record.headings == ["Practice", "Compare two clips", "Compare two clips", "Compare two clips"]
    participant = Participant.objects.get(study=study)
    assert participant.status == Participant.Status.COMPLETED and participant.prolific_pid == "pp-pairs"
    assert len(record.answers) == 3 and saved_choices(participant) == record.answers
    assert participant.pages.get(is_practice=True).public_id == record.practice_id
    # Every clip was heard to its end, and both sides were really played.
    clips = [clip for page_ in participant.pages.all() for clip in page_.clips.all()]
    assert len(clips) == 8 and all(c.plays >= 1 and c.ended_at for c in clips)


def test_pairwise_session_in_chinese_on_a_phone(live_server, browser_context):
    study = pairwise_study("pairs-zh", practice=False)
    context = browser_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    record = complete_pairwise(page, f"{live_server.url}/s/{study.slug}/", seed=2, practice=False, tap=True)
    assert record.completion_code == "TESTCODE"
    expect(page.locator("h1")).to_have_text("谢谢！")
    assert record.headings == ["比较两个片段"] * 3
    participant = Participant.objects.get(study=study)
    assert participant.language == "zh-hans" and participant.status == Participant.Status.COMPLETED
    assert saved_choices(participant) == record.answers
