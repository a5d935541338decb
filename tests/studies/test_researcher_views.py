"""Researcher pages: login, list, create form, open/close, live progress, and who may see them."""

import json
from datetime import timedelta

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone
from playwright.sync_api import expect

from studies import services
from studies.admin import StudyAdminForm
from studies.models import Study, Trial
from tests.factories import UserFactory
from tests.generation.factories import StimulusSetFactory
from tests.studies.factories import OpenStudyFactory, ParticipantFactory, StudyFactory

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
        "analysis_options": '{"min_panel_correlation": 0.5, "require_headphone_check": false}',
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
    assert study.analysis_options == {"min_panel_correlation": 0.5, "require_headphone_check": False}

    again = client.post("/researcher/studies/new/", data)
    assert again.status_code == 200 and "slug exists" in again.content.decode()
    data["slug"] = "bad-options"
    for options, message in [
        ("{min_panel_correlation: 0.5}", "Enter a valid JSON"),
        ('{"min_panel_correlation": "high"}', "min_panel_correlation must be a number"),
        ('{"panel_correlation": 0.5}', "unknown setting &#x27;panel_correlation&#x27;"),
        ("[0.5]", "must be a JSON object"),
    ]:
        data["analysis_options"] = options
        refused = client.post("/researcher/studies/new/", data)
        assert refused.status_code == 200 and message in refused.content.decode(), message
    data["analysis_options"] = ""
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


def test_admin_shows_and_checks_analysis_options(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    study = StudyFactory(analysis_options={"min_panel_correlation": 0.6}, conditions=0)
    page = client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert 'name="analysis_options"' in page and "min_panel_correlation" in page

    data = model_to_dict(study)
    data.update(
        {key: json.dumps(data[key]) for key in ("scale_definitions", "languages")},
        redirect_url="",
        analysis_options='{"min_panel_correlation": 0.4, "require_headphone_check": false}',
    )
    form = StudyAdminForm(data=data, instance=study)
    assert form.is_valid(), form.errors
    form.save()
    study.refresh_from_db()
    assert study.analysis_options == {"min_panel_correlation": 0.4, "require_headphone_check": False}
    data["analysis_options"] = '{"min_panel_correlation": 4}'
    form = StudyAdminForm(data=data, instance=study)
    assert not form.is_valid()
    assert "min_panel_correlation must be from -1 to 1" in form.errors["analysis_options"][0]
    study.refresh_from_db()
    assert study.analysis_options["min_panel_correlation"] == 0.4


def login_in_chromium(page, live_server, username: str) -> None:
    page.goto(live_server.url + "/researcher/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pass-for-tests")
    with page.expect_navigation():
        page.click("button[type=submit]")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_study_page_refreshes_its_progress_in_chromium(live_server, page):
    owner = UserFactory(username="lena", researcher=True)
    study = OpenStudyFactory(owner=owner)
    login_in_chromium(page, live_server, "lena")
    page.goto(f"{live_server.url}/researcher/studies/{study.slug}/")
    assert page.locator("#p-started").inner_text() == "0"
    ParticipantFactory(study=study)
    ParticipantFactory(study=study)
    # No reload: the page's script polls progress.json and rewrites the figures.
    expect(page.locator("#p-started")).to_have_text("2", timeout=15_000)
    expect(page.locator("#progress-updated")).to_contain_text("updated")
    expect(page.locator("#progress-table tbody tr")).to_have_count(5)
    # The clipboard write settles after the click returns: wait for its message, do not peek.
    page.click("#copy-link")
    expect(page.locator("#copy-done")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Close").click()
    expect(page.locator("#study-status")).to_have_text("Closed")
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED


def rate_first_clip(study, values: tuple[int, int, int]) -> Trial:
    """A volunteer joins, hears their first clip to the end and rates it, through the services."""
    participant = ParticipantFactory(study=study)
    trial = participant.trials.filter(is_practice=False).order_by("group", "position").first()
    now = timezone.now()
    Trial.objects.filter(pk=trial.pk).update(
        first_played_at=now - timedelta(seconds=5), ended_at=now - timedelta(seconds=4), plays=1
    )
    naturalness, creativity, musicality = values
    services.rating_submit(
        participant=participant,
        public_id=trial.public_id,
        naturalness=naturalness,
        creativity=creativity,
        musicality=musicality,
    )
    return trial


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_live_results_refresh_while_the_study_runs_in_chromium(live_server, page):
    owner = UserFactory(username="lena", researcher=True)
    study = OpenStudyFactory(owner=owner, headphone_check=False, volume_check=False, practice=False)
    login_in_chromium(page, live_server, "lena")
    progress_polls = []
    page.on("request", lambda r: progress_polls.append(r.url) if r.url.endswith("/progress.json") else None)
    # The test moves the page's clock, so each 5 s poll happens when the test says.
    page.clock.install()
    page.goto(f"{live_server.url}/researcher/studies/{study.slug}/")
    expect(page.locator("#live-summary-empty")).to_be_visible()

    first = rate_first_clip(study, (4, 2, 5))
    page.clock.run_for(5_000)
    expect(page.locator("#p-ratings")).to_have_text("1")
    rows = page.locator("#live-summary-table tbody tr")
    expect(rows).to_have_count(3)  # one condition rated so far, three scales
    expect(page.locator("#live-summary svg")).to_have_count(1)
    for scale, mos in (("naturalness", "4.00"), ("creativity", "2.00"), ("musicality", "5.00")):
        row = rows.filter(has_text=scale)
        expect(row).to_contain_text(first.condition.name)
        expect(row.locator("td").nth(5)).to_have_text(mos)
    expect(page.locator("#live-summary")).to_contain_text("1 listener with ratings")

    second = rate_first_clip(study, (2, 2, 1))
    page.clock.run_for(5_000)
    expect(page.locator("#live-summary")).to_contain_text("2 listeners with ratings")
    conditions = {first.condition.name, second.condition.name}
    expect(rows).to_have_count(3 * len(conditions))

    services.study_close(study=study)
    page.clock.run_for(5_000)
    expect(page.locator("#progress")).to_have_attribute("data-status", "closed")
    expect(page.locator("#study-status")).to_have_text("Closed")
    expect(page.locator("#progress-updated")).to_contain_text("no further updates")
    polls = len(progress_polls)
    page.clock.run_for(60_000)
    # A request the page makes after any poll those minutes would have started: none did.
    page.evaluate("() => fetch(location.href).then((response) => response.status)")
    assert len(progress_polls) == polls
