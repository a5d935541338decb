"""A researcher watches a pairwise study in Chromium: answered pages per pair refresh without a reload."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from studies import services
from studies.models import PageClip
from tests.factories import UserFactory
from tests.studies.factories import OpenStudyFactory, ParticipantFactory
from tests.studies.test_researcher_views import login_in_chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def answer_every_page(participant) -> None:
    """A volunteer hears both clips of each page to the end and prefers the left one, through the services."""
    now = timezone.now()
    for page in participant.pages.all():
        PageClip.objects.filter(page=page).update(first_played_at=now - timedelta(seconds=5), ended_at=now)
        services.pairwise_submit(
            participant=participant, public_id=page.public_id, choices={"preference": "A"}
        )


def test_pairwise_study_page_shows_and_refreshes_its_pairs(live_server, page):
    owner = UserFactory(username="lena", researcher=True)
    study = OpenStudyFactory(
        owner=owner,
        test_type="pairwise",
        design_options={"pairs_per_volunteer": 4},
        headphone_check=False,
        volume_check=False,
        practice=False,
    )
    login_in_chromium(page, live_server, "lena")
    page.goto(f"{live_server.url}/researcher/studies/{study.slug}/")
    expect(page.locator("#study-design")).to_contain_text("pairwise preference: 4 pairs per volunteer")
    expect(page.locator("#pairs-table tbody tr")).to_have_count(10)
    assert page.locator("#p-ratings").inner_text() == "0"

    answer_every_page(ParticipantFactory(study=study))
    answer_every_page(ParticipantFactory(study=study))
    # No reload: the page's script polls progress.json and rewrites the figures and both tables.
    expect(page.locator("#p-ratings")).to_have_text("8", timeout=15_000)
    cells = page.locator("#pairs-table tbody tr td:nth-child(3)")
    expect(cells).to_have_count(10)
    pages_per_pair = [int(text) for text in cells.all_inner_texts()]
    assert sum(pages_per_pair) == 8 and max(pages_per_pair) - min(pages_per_pair) <= 1
    sides = page.locator("#pairs-table tbody tr td:nth-child(4)").all_inner_texts()
    assert all(0 <= int(s) <= n for s, n in zip(sides, pages_per_pair, strict=True))
