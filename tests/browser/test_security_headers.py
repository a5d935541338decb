"""Headers: a Content-Security-Policy the researcher pages and Swagger UI pass with no inline script.

The issue found no CSP at all and Swagger UI loaded from a public CDN at @latest. Chromium reports
every CSP violation to the page (`securitypolicyviolation`); the test collects them on each page, and
checks that every request stays on this server. The volunteer pages are checked the same way by
the whole-session test (test_blinding.py).
"""

import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory
from tests.studies.factories import OpenStudyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLLECT_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile + ":" + e.lineNumber);
});
"""


def watch(page, live_server) -> list[str]:
    """Install the violation collector and record every request that leaves this server."""
    foreign: list[str] = []
    page.add_init_script(COLLECT_VIOLATIONS)
    page.on(
        "request", lambda r: None if r.url.startswith((live_server.url, "data:")) else foreign.append(r.url)
    )
    return foreign


def violations(page) -> list[str]:
    return page.evaluate("window.__csp || []")


def test_researcher_pages_and_swagger_ui_pass_the_policy(live_server, browser_context):
    UserFactory(username="lena", researcher=True, is_staff=True)
    study = OpenStudyFactory(slug="csp")
    page = browser_context().new_page()
    foreign = watch(page, live_server)
    response = page.goto(live_server.url + "/researcher/")
    policy = response.headers["content-security-policy"]
    assert (
        "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    )
    page.fill("#id_username", "lena")
    page.fill("#id_password", "pass-for-tests")
    with page.expect_navigation():
        page.click("button[type=submit]")
    seen = {}
    for path in (
        "/researcher/",
        f"/researcher/studies/{study.slug}/",
        "/researcher/generation/",
        "/api/docs/",
        "/admin/",
    ):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        seen[path] = violations(page)
    expect(page.locator("body")).to_be_visible()
    page.goto(live_server.url + "/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("docbgm API", timeout=15_000)
    html = page.content()
    assert "cdn.jsdelivr" not in html and "@latest" not in html
    assert {path: v for path, v in seen.items() if v} == {}
    assert foreign == []
