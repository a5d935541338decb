"""In headless Chromium: a MUSHRA or pairwise study's live results appear on the study page, without
a reload, as volunteers submit pages through the services."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from studies import services
from studies.models import PageClip
from tests.factories import UserFactory
from tests.studies.analysis.test_designs_export import MUSHRA_OPTIONS, MUSHRA_PLANTED, PAIRWISE_OPTIONS
from tests.studies.factories import OpenStudyFactory, ParticipantFactory


def answer_first_page(study):
    """A volunteer joins, hears every clip of their first page to the end and answers it."""
    participant = ParticipantFactory(study=study)
    page = participant.pages.filter(is_practice=False).order_by("position").first()
    clips = list(page.clips.select_related("condition").order_by("slot"))
    for clip in clips:
        services.page_clip_record_play(participant=participant, public_id=clip.public_id, event="play")
    PageClip.objects.filter(page=page).update(first_played_at=timezone.now() - timedelta(seconds=5))
    for clip in clips:
        services.page_clip_record_play(participant=participant, public_id=clip.public_id, event="ended")
    if study.test_type == "mushra":
        scores = {c.label: {"quality": MUSHRA_PLANTED[c.condition.name]} for c in clips}
        services.mushra_submit(participant=participant, public_id=page.public_id, scores=scores)
    else:
        chosen = min(clips, key=lambda c: c.condition_id).label
        services.pairwise_submit(
            participant=participant, public_id=page.public_id, choices={"preference": chosen}
        )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("test_type", ["mushra", "pairwise"])
def test_live_results_of_each_design_refresh_in_chromium(live_server, page, test_type):
    owner = UserFactory(username="lena", researcher=True)
    options = MUSHRA_OPTIONS if test_type == "mushra" else PAIRWISE_OPTIONS
    study = OpenStudyFactory(
        owner=owner, test_type=test_type, design_options=options, headphone_check=False, volume_check=False,
        practice=False,
    )  # fmt: skip
    page.goto(live_server.url + "/researcher/")
    page.fill("#id_username", "lena")
    page.fill("#id_password", "pass-for-tests")
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.clock.install()  # each 5 s progress poll happens when the test moves the clock
    page.goto(f"{live_server.url}/researcher/studies/{study.slug}/")
    expect(page.locator("#live-summary-empty")).to_have_text("No answers yet.")

    answer_first_page(study)
    page.clock.run_for(5_000)
    rows = page.locator("#live-summary-table tbody tr")
    if test_type == "mushra":
        expect(rows).to_have_count(5)  # one page: every condition, one scale
        expect(page.locator("#live-summary")).to_contain_text("1 listener with scores")
        expect(rows.filter(has_text="cond3").locator("td").nth(5)).to_have_text("100.0")
        expect(page.locator("#live-summary svg")).to_have_count(1)
    else:
        expect(rows).to_have_count(2)  # one pair so far: its two conditions, no strengths yet
        expect(page.locator("#live-summary")).to_contain_text("1 listener with choices")
        expect(rows.first).to_contain_text("not estimable yet")

    answer_first_page(study)
    page.clock.run_for(5_000)
    noun = "scores" if test_type == "mushra" else "choices"
    expect(page.locator("#live-summary")).to_contain_text(f"2 listeners with {noun}")
