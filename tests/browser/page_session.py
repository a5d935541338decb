"""Drive a whole MUSHRA or pairwise volunteer session in Chromium, as a person would, and say what
was chosen. Shared by test_mushra.py, test_pairwise.py and test_blinding.py.

The studies these sessions join have no screening (test_volunteer_flow.py and test_blinding.py run
the volume and headphone checks, which are the same for every design). Nothing is read behind the
browser's back: the page's own configuration (#volunteer-config) names its opaque answer URL.
"""

import json
import random
import re
from dataclasses import dataclass, field

from playwright.sync_api import Page, expect

from tests.browser.volunteer_session import give_consent

PAGE_URL = re.compile(r"/api/pages/([^/]+)/answer/$")


@dataclass
class PagesRecord:
    answers: dict[str, dict] = field(default_factory=dict)  # page public id -> what was chosen
    practice_id: str = ""
    completion_code: str = ""
    headings: list[str] = field(default_factory=list)


def page_config(page: Page) -> dict:
    return json.loads(page.locator("#volunteer-config").text_content())


def _press(page: Page, selector: str, *, how: str) -> None:
    if how == "tap":
        page.locator(selector).tap()
    elif how == "keyboard":
        page.focus(selector)
        page.keyboard.press("Enter")
    else:
        page.click(selector)


def hear(page: Page, label: str, *, how: str = "click") -> None:
    """Play clip `label` and wait until the server has its end (the clip shows ✓)."""
    _press(page, f"#clip-play-{label}", how=how)
    expect(page.locator(f"#clip-state-{label}")).to_contain_text("✓", timeout=15_000)


def set_slider(page: Page, selector: str, value: int) -> None:
    """Keyboard only, as a person without a mouse would: Home is 0, Page Up adds 10, → adds 1."""
    page.focus(selector)
    page.keyboard.press("Home")
    for _ in range(value // 10):
        page.keyboard.press("PageUp")
    for _ in range(value % 10):
        page.keyboard.press("ArrowRight")


def _pages(page: Page, record: PagesRecord, answer_page) -> PagesRecord:
    for _ in range(50):
        if page.locator("#completion-code").count():
            record.completion_code = page.locator("#completion-code").inner_text().strip()
            return record
        config = page_config(page)
        public_id = PAGE_URL.search(config["urls"]["answer"])[1]
        record.headings.append(page.locator("h1").inner_text())
        expect(page.locator("#page-submit")).to_be_disabled()
        answer = answer_page(config)
        with page.expect_navigation():
            page.click("#page-submit")
        if answer.pop("practice"):
            record.practice_id = public_id
        else:
            record.answers[public_id] = answer
    raise AssertionError("the session did not end")


def complete_pairwise(page: Page, url: str, *, seed: int, practice: bool, tap: bool = False) -> PagesRecord:
    """Consent, then answer every pairwise page: both clips heard to the end, one choice each."""
    rng = random.Random(seed)
    record = PagesRecord()
    give_consent(page, url, tap=tap)
    count = [0]

    def answer_page(config):
        count[0] += 1
        assert [clip["label"] for clip in config["clips"]] == ["A", "B"]
        hear(page, "A", how="tap" if tap else "click")
        # The submit button waits for both clips; the second is played from the keyboard.
        expect(page.locator("#page-submit")).to_be_disabled()
        hear(page, "B", how="tap" if tap else "keyboard")
        expect(page.locator("#page-submit")).to_be_enabled()
        chosen = {}
        for question in config["questions"]:
            label = rng.choice(["A", "B"])
            option = page.locator(f"#question-{question['key']} label.point").nth(0 if label == "A" else 1)
            option.tap() if tap else option.click()
            chosen[question["key"]] = label
        return {**chosen, "practice": practice and count[0] == 1}

    return _pages(page, record, answer_page)


def complete_mushra(page: Page, url: str, *, seed: int, practice: bool, switch: bool = True) -> PagesRecord:
    """Consent, then score every MUSHRA page: every clip heard to the end, every slider set.

    With `switch`, the first page also checks MUSHRA's instant switching: clip B pressed while A
    plays takes over at A's playback position, and A stops.
    """
    rng = random.Random(seed)
    record = PagesRecord()
    give_consent(page, url)
    count = [0]

    def answer_page(config):
        count[0] += 1
        labels = [clip["label"] for clip in config["clips"]]
        assert labels == list("ABCDEFGH"[: len(labels)])
        if switch and count[0] == 1:
            page.click("#clip-play-A")
            page.wait_for_timeout(800)
            page.click("#clip-play-B")
            position = page.evaluate("document.getElementById('clip-audio-B').currentTime")
            assert position >= 0.5, position
            assert page.evaluate("document.getElementById('clip-audio-A').paused")
            expect(page.locator("#clip-state-B")).to_contain_text("✓", timeout=15_000)
            expect(page.locator("#clip-state-A")).not_to_contain_text("✓")
        for label in labels:
            if not (switch and count[0] == 1 and label == "B"):
                hear(page, label)
        scores = {}
        for label in labels:
            scores[label] = {}
            for scale in config["scales"]:
                value = rng.randint(0, 100)
                set_slider(page, f'input[name="{label}:{scale["key"]}"]', value)
                expect(page.locator(f"#score-{label}-{scale['key']}")).to_have_text(str(value))
                scores[label][scale["key"]] = value
        expect(page.locator("#page-submit")).to_be_enabled()
        return {"scores": scores, "practice": practice and count[0] == 1}

    return _pages(page, record, answer_page)
