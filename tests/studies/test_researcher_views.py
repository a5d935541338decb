"""Researcher pages: login, list, create form, open/close, live progress, and who may see them."""

import pytest

from studies.models import Study
from tests.studies.factories import (
    OpenStudyFactory,
    ParticipantFactory,
    StimulusSetFactory,
    StudyFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client):
    user = UserFactory(username="alice", researcher=True)
    client.force_login(user)
    return user


def test_login_page_logs_a_researcher_in(client):
    UserFactory(username="rita", researcher=True)
    assert client.get("/researcher/").url.startswith("/researcher/login/")
    page = client.get("/researcher/login/")
    assert page.status_code == 200 and b"Researcher login" in page.content
    response = client.post("/researcher/login/", {"username": "rita", "password": "pass-for-tests"})
    assert response.status_code == 302 and response.url == "/researcher/"
    assert client.get("/researcher/").status_code == 200
    assert client.post("/researcher/logout/").status_code == 302
    assert client.get("/researcher/").status_code == 302


def test_plain_users_get_403(client):
    client.force_login(UserFactory())
    assert client.get("/researcher/").status_code == 403
    assert client.get("/researcher/studies/new/").status_code == 403


def test_list_shows_own_studies_only_and_staff_sees_all(client, alice):
    mine = StudyFactory(owner=alice, title="Alice's study", conditions=0)
    theirs = StudyFactory(title="Bob's study", conditions=0)
    page = client.get("/researcher/").content.decode()
    assert mine.title.replace("'", "&#x27;") in page and "Bob&#x27;s study" not in page
    client.force_login(UserFactory(is_staff=True))
    page = client.get("/researcher/").content.decode()
    assert "Alice&#x27;s study" in page and "Bob&#x27;s study" in page
    assert theirs.owner.username in page


def test_create_form_makes_a_draft_study(client, alice):
    sets = [StimulusSetFactory(name=f"model{k}", items=3) for k in range(5)]
    page = client.get("/researcher/studies/new/")
    assert page.status_code == 200
    assert page.context["formset"].total_form_count() == 5
    data = {
        "slug": "form-study",
        "title": "From the form",
        "consent_version": "2",
        "groups": 3,
        "clips_per_group": 5,
        "naturalness_definition": "natural?",
        "creativity_definition": "creative?",
        "musicality_definition": "musical?",
        "target_participants": 20,
        "languages": ["en", "zh-hans"],
        "headphone_check": "on",
        "seat_timeout_minutes": 45,
        "conditions-TOTAL_FORMS": 5,
        "conditions-INITIAL_FORMS": 5,
    }
    for k, s in enumerate(sets):
        data.update(
            {
                f"conditions-{k}-include": "on" if k < 4 else "",
                f"conditions-{k}-stimulus_set": s.pk,
                f"conditions-{k}-name": f"m{k}",
                f"conditions-{k}-role": "system",
            }
        )
    data["clips_per_group"] = 4
    response = client.post("/researcher/studies/new/", data)
    assert response.status_code == 302, response.context["form"].errors if response.context else ""
    study = Study.objects.get(slug="form-study")
    assert response.url == "/researcher/studies/form-study/"
    assert study.owner == alice and study.status == Study.Status.DRAFT
    assert [c.name for c in study.conditions.all()] == ["m0", "m1", "m2", "m3"]
    assert study.scale_definitions["creativity"] == "creative?"
    assert (study.headphone_check, study.volume_check, study.practice) == (True, False, False)
    assert study.consent_version == "2" and study.seat_timeout_minutes == 45

    again = client.post("/researcher/studies/new/", data)
    assert again.status_code == 200 and "slug exists" in again.content.decode()
    data["slug"] = "no-conditions"
    for k in range(5):
        data[f"conditions-{k}-include"] = ""
    none = client.post("/researcher/studies/new/", data)
    assert "at least one condition" in none.content.decode()
    assert Study.objects.count() == 1


def test_open_close_and_progress(client, alice):
    study = StudyFactory(owner=alice)
    page = client.get(f"/researcher/studies/{study.slug}/").content.decode()
    assert f"http://testserver/s/{study.slug}/" in page
    assert 'id="copy-link"' in page and 'id="analysis-summary"' in page
    assert client.get(f"/researcher/studies/{study.slug}/open/").status_code == 405
    client.post(f"/researcher/studies/{study.slug}/open/")
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN
    ParticipantFactory(study=study)
    ParticipantFactory(study=study)
    progress = client.get(f"/researcher/studies/{study.slug}/progress.json").json()
    assert progress["started"] == 2 and progress["in_progress"] == 2
    assert len(progress["conditions"]) == 5
    client.post(f"/researcher/studies/{study.slug}/close/")
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED


def test_open_refusal_is_shown_and_changes_nothing(client, alice):
    study = StudyFactory(owner=alice, items=2)
    response = client.post(f"/researcher/studies/{study.slug}/open/", follow=True)
    assert "share only 2" in response.content.decode()
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_another_researchers_study_is_404_but_staff_can_act(client, alice):
    study = OpenStudyFactory()
    for url in ("", "progress.json"):
        assert client.get(f"/researcher/studies/{study.slug}/{url}").status_code == 404
    assert client.post(f"/researcher/studies/{study.slug}/close/").status_code == 404
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN
    client.force_login(UserFactory(is_staff=True))
    assert client.get(f"/researcher/studies/{study.slug}/").status_code == 200
    client.post(f"/researcher/studies/{study.slug}/close/")
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED


def test_admin_lists_every_model(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    study = OpenStudyFactory()
    ParticipantFactory(study=study)
    for model in ("study", "condition", "participant", "trial", "rating"):
        assert client.get(f"/admin/studies/{model}/").status_code == 200, model
    participant = study.participants.get()
    page = client.get(f"/admin/studies/participant/{participant.pk}/change/").content.decode()
    assert participant.token not in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_study_page_refreshes_its_progress_in_chromium(live_server, page):
    owner = UserFactory(username="lena", researcher=True)
    study = OpenStudyFactory(owner=owner)
    page.goto(live_server.url + "/researcher/")
    page.fill("#id_username", "lena")
    page.fill("#id_password", "pass-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/researcher/studies/{study.slug}/")
    assert page.locator("#p-started").inner_text() == "0"
    ParticipantFactory(study=study)
    ParticipantFactory(study=study)
    # No reload: the page's script polls progress.json and rewrites the figures.
    page.wait_for_function("document.getElementById('p-started').textContent === '2'", timeout=15000)
    assert page.locator("#progress-updated").inner_text().startswith("updated")
    assert page.locator("#progress-table tbody tr").count() == 5
    page.click("#copy-link")
    assert page.locator("#copy-done").is_visible()
    page.click("text=Close")
    assert page.locator("#study-status").inner_text() == "Closed"
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED
