"""Researcher REST API: create, list, open, close, progress, and who may do what."""

import pytest
from rest_framework.test import APIClient

from studies.models import Study
from tests.factories import UserFactory
from tests.generation.factories import StimulusSetFactory
from tests.studies.factories import OpenStudyFactory, ParticipantFactory, StudyFactory

pytestmark = pytest.mark.django_db


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_researcher_creates_opens_and_watches_a_study():
    alice = UserFactory(researcher=True)
    sets = [StimulusSetFactory(items=3) for _ in range(5)]
    api = client_for(alice)
    response = api.post(
        "/api/studies/",
        {
            "slug": "api-study",
            "title": "Via the API",
            "conditions": [
                {"name": f"c{k}", "stimulus_set": s.pk, "role": "reference" if k == 4 else "system"}
                for k, s in enumerate(sets)
            ],
            "target_participants": 12,
            "practice": False,
            "analysis_options": {"min_panel_correlation": 0.5, "max_unfinished_fraction": 0.1},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft" and body["owner"] == alice.username
    assert body["analysis_options"] == {"min_panel_correlation": 0.5, "max_unfinished_fraction": 0.1}
    assert Study.objects.get(slug="api-study").analysis_options == body["analysis_options"]
    assert body["volunteer_path"] == "/s/api-study/" and len(body["completion_code"]) == 8
    assert [c["role"] for c in body["conditions"]] == ["system"] * 4 + ["reference"]

    assert api.post("/api/studies/api-study/open/").json()["status"] == "open"
    ParticipantFactory(study=Study.objects.get(slug="api-study"))
    progress = api.get("/api/studies/api-study/progress/").json()
    assert (progress["started"], progress["in_progress"], progress["completed"]) == (1, 1, 0)
    assert [row["name"] for row in progress["conditions"]] == ["c0", "c1", "c2", "c3", "c4"]
    assert progress["items"] == ["item0", "item1", "item2"]
    assert api.post("/api/studies/api-study/close/").json()["status"] == "closed"
    assert [s["slug"] for s in api.get("/api/studies/").json()] == ["api-study"]


def test_create_refusals_answer_400_with_the_reason():
    alice = UserFactory(researcher=True)
    stimulus_set = StimulusSetFactory(items=3)
    api = client_for(alice)
    missing = api.post("/api/studies/", {"slug": "x", "title": "T", "conditions": []}, format="json")
    assert missing.status_code == 400 and "conditions" in missing.json()["fields"]
    bad_role = api.post(
        "/api/studies/",
        {
            "slug": "x",
            "title": "T",
            "conditions": [{"name": "a", "stimulus_set": stimulus_set.pk, "role": "boss"}],
        },
        format="json",
    )
    assert bad_role.status_code == 400 and "role" in str(bad_role.json())
    too_big = api.post(
        "/api/studies/",
        {
            "slug": "x",
            "title": "T",
            "languages": ["fr"],
            "conditions": [{"name": "a", "stimulus_set": stimulus_set.pk}],
        },
        format="json",
    )
    assert too_big.status_code == 400 and "Languages" in too_big.json()["detail"]
    conditions = [{"name": "a", "stimulus_set": stimulus_set.pk}]
    for options, message in [
        ({"min_panel_correlation": 2}, "min_panel_correlation must be from -1 to 1"),
        ({"flat_variance": 0.1}, "unknown setting 'flat_variance'"),
    ]:
        bad = api.post(
            "/api/studies/",
            {"slug": "x", "title": "T", "conditions": conditions, "analysis_options": options},
            format="json",
        )
        assert bad.status_code == 400 and message in bad.json()["detail"]
    not_an_object = api.post(
        "/api/studies/",
        {"slug": "x", "title": "T", "conditions": conditions, "analysis_options": [1]},
        format="json",
    )
    assert not_an_object.status_code == 400 and "analysis_options" in not_an_object.json()["fields"]
    assert Study.objects.count() == 0


def test_open_refusal_says_why():
    study = StudyFactory(items=2)
    response = client_for(study.owner).post(f"/api/studies/{study.slug}/open/")
    assert response.status_code == 400 and "share only 2" in response.json()["detail"]
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_a_researcher_cannot_touch_another_researchers_study_but_staff_can():
    study = OpenStudyFactory()
    bob = UserFactory(researcher=True)
    api = client_for(bob)
    for method, url in [
        ("get", f"/api/studies/{study.slug}/"),
        ("get", f"/api/studies/{study.slug}/progress/"),
        ("post", f"/api/studies/{study.slug}/open/"),
        ("post", f"/api/studies/{study.slug}/close/"),
    ]:
        assert getattr(api, method)(url).status_code == 404, url
    assert api.get("/api/studies/").json() == []
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN

    staff = UserFactory(is_staff=True)
    staff_api = client_for(staff)
    assert [s["slug"] for s in staff_api.get("/api/studies/").json()] == [study.slug]
    assert staff_api.post(f"/api/studies/{study.slug}/close/").json()["status"] == "closed"


def test_volunteers_and_plain_users_get_no_researcher_endpoint():
    study = OpenStudyFactory()
    participant = ParticipantFactory(study=study)
    plain = UserFactory()
    urls = ["/api/studies/", f"/api/studies/{study.slug}/", f"/api/studies/{study.slug}/progress/"]
    for url in urls:
        assert client_for().get(url).status_code in (401, 403), url
        assert client_for(plain).get(url).status_code == 403, url
        # A volunteer's token is no credential for the researcher API.
        header = client_for().get(url, HTTP_AUTHORIZATION=f"Token {participant.token}")
        assert header.status_code in (401, 403)
    assert client_for(plain).post(f"/api/studies/{study.slug}/close/").status_code == 403
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN


def test_schema_lists_the_researcher_endpoints(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/api/studies/", "/api/studies/{slug}/open/", "/api/studies/{slug}/progress/"):
        assert path in text
