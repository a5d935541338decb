import pytest

pytestmark = pytest.mark.browser


def test_home_page_in_chromium(live_server, page):
    response = page.goto(live_server.url + "/")
    assert response.status == 200
    assert page.locator("h1").inner_text() == "docbgm"
    assert page.get_by_role("link", name="Researcher pages").get_attribute("href") == "/researcher/"
