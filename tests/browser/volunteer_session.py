"""Drive one whole volunteer session in Chromium, as a person would, and say what was clicked.

Shared by test_volunteer_flow.py and test_blinding.py. The only thing the script reads behind the
browser's back is the headphone test's answer key, from the server-side session in the database:
a person hears the tone; a headless browser cannot.
"""

import random
import re
from dataclasses import dataclass, field

from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import Page, expect

from studies.volunteer.views import HUGGINS_SESSION_KEY

CLIP_URL = re.compile(r"/clip/([^/]+)/$")


@dataclass
class SessionRecord:
    ratings: dict[str, dict[str, int]] = field(default_factory=dict)  # public id -> values clicked
    practice_id: str = ""
    completion_code: str = ""


def _answer_key(page: Page) -> list[int]:
    cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    plans = SessionStore(session_key=cookie["value"]).load()[HUGGINS_SESSION_KEY]
    (plan,) = plans.values()
    return plan["answers"]


def _rate_with_keyboard(page: Page, values: dict[str, int]) -> None:
    """Arrow keys move within a radio group, as in any native form."""
    for name, value in values.items():
        page.focus(f'input[name="{name}"][value="1"]')
        page.keyboard.press("Space")
        for _ in range(value - 1):
            page.keyboard.press("ArrowRight")
    page.focus("#rating-submit")


def give_consent(page: Page, url: str, *, tap: bool = False) -> None:
    """Open the study link, consent, answer two questions and continue (tapping on a phone)."""
    page.goto(url)
    consent, submit = page.locator('input[name="consent"]'), page.locator('form button[type="submit"]')
    if tap:
        consent.tap()
        expect(consent).to_be_checked()
    else:
        consent.check()
    page.select_option('select[name="age_band"]', "25-34")
    page.select_option('select[name="listening_device"]', "over_ear")
    with page.expect_navigation():
        if tap:
            submit.tap()
        else:
            submit.click()


def complete_session(
    page: Page, url: str, *, seed: int, volume: bool, headphones: bool, reload_at: int = 3
) -> SessionRecord:
    rng = random.Random(seed)
    record = SessionRecord()
    give_consent(page, url)

    if volume:
        expect(page.locator("#volume-done")).to_be_disabled()
        page.click("#volume-play")
        expect(page.locator("#volume-done")).to_be_enabled(timeout=15_000)
        with page.expect_navigation():
            page.click("#volume-done")
    if headphones:
        for number in range(6):
            answer = _answer_key(page)[number]
            expect(page.locator("#check-choices button").first).to_be_disabled()
            page.click("#check-play")
            expect(page.locator("#check-choices button").first).to_be_enabled(timeout=15_000)
            with page.expect_navigation():
                page.click(f'#check-choices button[data-answer="{answer + 1}"]')

    for index in range(16):
        submit = page.locator("#rating-submit")
        src = page.locator("#clip-audio").get_attribute("src")
        public_id = CLIP_URL.search(src)[1]
        expect(submit).to_be_disabled()
        values = {name: rng.randint(1, 5) for name in ("naturalness", "creativity", "musicality")}
        if index == 2:
            page.focus("#clip-play")
            page.keyboard.press("Enter")
        else:
            page.click("#clip-play")
        expect(submit).to_be_enabled(timeout=15_000)
        if index == reload_at:
            # A reload after the clip ended resumes on the same clip, already allowed to rate.
            page.reload()
            assert CLIP_URL.search(page.locator("#clip-audio").get_attribute("src"))[1] == public_id
            expect(submit).to_be_enabled()
        if index == 2:
            _rate_with_keyboard(page, values)
            with page.expect_navigation():
                page.keyboard.press("Enter")
        else:
            for name, value in values.items():
                page.locator(f"#scale-{name} label.point").nth(value - 1).click()
            with page.expect_navigation():
                submit.click()
        if index == 0:
            record.practice_id = public_id
        else:
            record.ratings[public_id] = values

    record.completion_code = page.locator("#completion-code").inner_text().strip()
    return record
