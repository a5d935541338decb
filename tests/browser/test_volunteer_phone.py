"""The volunteer pages on a phone: a 390 x 844 touch screen (an iPhone 12-14), rated by tapping.

Usable means: nothing wider than the screen (no sideways scrolling), and every control a thumb
needs (Play, the fifteen 1-5 choices, Submit, the language menu) at least 44 x 44 CSS px, the
minimum of WCAG 2.5.5 and Apple's guidelines, and wholly on the screen's width.
"""

import pytest
from playwright.sync_api import Page, expect

from studies.models import Participant, Rating
from tests.browser.volunteer_session import CLIP_URL, give_consent
from tests.studies.factories import OpenStudyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 3,
}
MIN_TARGET_PX = 44
SCALES = ("naturalness", "creativity", "musicality")


def assert_no_sideways_scrolling(page: Page) -> None:
    # A mobile browser zooms out to fit a page wider than the screen, and then innerWidth grows
    # with it (to 500 for a 500 px page): so innerWidth must still be the screen's 390 px too.
    widths = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1] == 390, f"page is {widths[0]} px wide on a {widths[1]} px screen"


def assert_touch_target(page: Page, selector: str) -> int:
    """Every element matching `selector` is at least 44 x 44 px and within the screen's width."""
    locator = page.locator(selector)
    count = locator.count()
    assert count, selector
    for k in range(count):
        box = locator.nth(k).bounding_box()
        where = f"{selector} #{k + 1}: {box}"
        assert box["height"] >= MIN_TARGET_PX and box["width"] >= MIN_TARGET_PX, where
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, where
    return count


def test_a_volunteer_can_rate_on_a_phone_by_tapping(live_server, browser_context):
    study = OpenStudyFactory(
        slug="phone",
        title="How natural, creative and musical is this documentary background music?",
        headphone_check=False,
        volume_check=False,
        practice=False,
        duration_s=0.6,
    )
    page = browser_context(locale="en-US", **PHONE).new_page()
    give_consent(page, f"{live_server.url}/s/{study.slug}/", tap=True)
    expect(page.locator("#progress")).to_have_text("Group 1 of 3, clip 1 of 5")

    assert_no_sideways_scrolling(page)
    assert_touch_target(page, "#clip-play")
    assert_touch_target(page, "#rating-submit")
    assert_touch_target(page, "#language-select")
    # The radios themselves are hidden; the label around each is what a finger taps.
    assert assert_touch_target(page, ".scale label.point") == 15
    assert page.locator(".scale label.point > input[type=radio]").count() == 15
    page.screenshot(path="/tmp/phone.png", full_page=True)

    public_id = CLIP_URL.search(page.locator("#clip-audio").get_attribute("src"))[1]
    submit = page.locator("#rating-submit")
    expect(submit).to_be_disabled()
    page.locator("#clip-play").tap()
    expect(submit).to_be_enabled(timeout=15_000)
    tapped = {"naturalness": 4, "creativity": 2, "musicality": 5}
    for name, value in tapped.items():
        page.locator(f"#scale-{name} label.point").nth(value - 1).tap()
        expect(page.locator(f'input[name="{name}"][value="{value}"]')).to_be_checked()
    assert_no_sideways_scrolling(page)
    with page.expect_navigation():
        submit.tap()

    expect(page.locator("#progress")).to_have_text("Group 1 of 3, clip 2 of 5")
    assert_no_sideways_scrolling(page)
    rating = Rating.objects.get(trial__public_id=public_id)
    assert {name: getattr(rating, name) for name in SCALES} == tapped
    assert Participant.objects.get(study=study).trials.filter(rating__isnull=False).count() == 1
