"""Headless Chromium: a volunteer who switches to Chinese reads the researcher's own Chinese texts,
drawn in a CJK font (Debian's fonts-noto-cjk through fontconfig), so screenshots are legible."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.volunteer_session import give_consent
from tests.studies.factories import OpenStudyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONSENT_EN = "I agree that my ratings are used for the documentary music study."
CONSENT_ZH = "我同意我的评分用于纪录片配乐研究。"
INSTRUCTIONS_ZH = "请在安静的地方戴上耳机聆听。"


def fonts_drawing(page: Page, selector: str) -> dict[str, int]:
    """The platform fonts Chromium drew the element's text with: family -> glyphs (DevTools CSS
    domain; the volunteer pages' CSP forbids evaluating script in them, and this needs none)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return {font["familyName"]: font["glyphCount"] for font in fonts}


def test_volunteer_switching_to_chinese_reads_the_researchers_chinese_consent(
    live_server, browser_context, tmp_path
):
    study = OpenStudyFactory(
        slug="texts-zh",
        title="Documentary music",
        consent_text=CONSENT_EN,
        instructions="Listen with headphones in a quiet place.",
        translations={
            "zh-hans": {
                "title": "纪录片配乐",
                "consent_text": CONSENT_ZH,
                "instructions": INSTRUCTIONS_ZH,
            }
        },
        headphone_check=False,
        volume_check=False,
        duration_s=0.6,
    )
    page = browser_context(locale="en-GB").new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/")
    expect(page.locator("#consent-text")).to_have_text(CONSENT_EN)
    expect(page.locator("h1")).to_have_text("Documentary music")

    with page.expect_navigation():
        page.select_option("#language-select", "zh-hans")  # volunteer.js submits the switch
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#consent-text")).to_have_text(CONSENT_ZH)
    expect(page.locator("h1")).to_have_text("纪录片配乐")
    expect(page.locator(".brand")).to_have_text("纪录片配乐")
    assert CONSENT_EN not in page.content()
    fonts = fonts_drawing(page, "#consent-text p")
    cjk = {family: glyphs for family, glyphs in fonts.items() if "CJK" in family}
    assert sum(cjk.values()) >= len(CONSENT_ZH) - 2, f"no CJK font drew the consent text: {fonts}"
    page.screenshot(path=tmp_path / "consent-zh.png", full_page=True)

    give_consent(page, f"{live_server.url}/s/{study.slug}/")
    expect(page.locator("h1")).to_have_text("练习")
    page.locator(".instructions summary").click()
    expect(page.locator(".instructions .prose")).to_have_text(INSTRUCTIONS_ZH)
    assert study.participants.get().language == "zh-hans"
