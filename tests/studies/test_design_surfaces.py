"""The MUSHRA and pairwise designs where researchers choose and watch them: the form, `create_study`,
the REST API, the admin and the study page; and the volunteer API of their pages."""

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict
from django.utils import timezone
from rest_framework.test import APIClient

from studies import services
from studies.admin import StudyAdminForm
from studies.models import MushraScore, PageClip, PairwiseChoice, Study
from studies.volunteer import messages
from studies.volunteer.selectors import SESSION_KEY
from tests.factories import UserFactory
from tests.generation.factories import StimulusSetFactory
from tests.studies.factories import OpenStudyFactory, ParticipantFactory, StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sets():
    return {name: StimulusSetFactory(name=name, items=3) for name in ("proposed", "bilstm", "real", "anchor")}


CONDITIONS = [
    "--condition=proposed=proposed",
    "--condition=bilstm=bilstm",
    "--condition=real=real:reference",
    "--condition=anchor=anchor:low_anchor",
]


def test_create_study_makes_and_opens_a_mushra_study(sets, capsys):
    UserFactory(username="rita", researcher=True)
    call_command(
        "create_study",
        "--slug=mushra-cli",
        "--title=MUSHRA",
        "--owner=rita",
        *CONDITIONS,
        "--test-type=mushra",
        "--mushra-reference=real",
        "--mushra-scale=quality=Basic audio quality",
        "--mushra-scale=fit=Fits a documentary",
        "--items-per-volunteer=2",
        "--open",
    )
    study = Study.objects.get(slug="mushra-cli")
    assert study.status == Study.Status.OPEN and study.test_type == "mushra"
    assert study.design_options == {
        "reference": "real",
        "anchor": "anchor",
        "scales": [
            {"key": "quality", "label": "Basic audio quality"},
            {"key": "fit", "label": "Fits a documentary"},
        ],
        "items_per_volunteer": 2,
    }
    assert "MUSHRA, 2 pages per volunteer (reference real)" in capsys.readouterr().out


def test_create_study_makes_a_pairwise_study(sets, capsys):
    UserFactory(username="rita", researcher=True)
    call_command(
        "create_study",
        "--slug=pairs-cli",
        "--title=Pairs",
        "--owner=rita",
        *CONDITIONS,
        "--test-type=pairwise",
        "--question=preference=Which clip do you prefer?",
        "--pairs-per-volunteer=4",
    )
    study = Study.objects.get(slug="pairs-cli")
    assert study.test_type == "pairwise" and study.status == Study.Status.DRAFT
    assert study.design_options["pairs_per_volunteer"] == 4
    assert "pairwise, 4 pairs per volunteer" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--test-type=pairwise", "--items-per-volunteer=2"], "only for --test-type mushra"),
        (["--test-type=mushra", "--mushra-reference=proposed"], "must have the role reference"),
        (["--test-type=mushra", "--mushra-anchor=nobody"], "is not a condition of the study"),
        (["--test-type=pairwise", "--question=no-equals-sign"], "expected KEY=TEXT"),
        (["--test-type=pairwise", "--pairs-per-volunteer=0"], "from 1 to 200"),
        (["--test-type=mushra", "--items-per-volunteer=5", "--open"], "scores 5 item"),
    ],
)
def test_create_study_refuses_bad_design_flags_and_creates_nothing(sets, args, message):
    UserFactory(username="rita", researcher=True)
    base = ["--slug=bad", "--title=T", "--owner=rita", *CONDITIONS]
    with pytest.raises(CommandError, match=message):
        call_command("create_study", *base, *args)
    assert not Study.objects.exists()


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_creates_a_pairwise_study_and_reports_its_pairs(sets):
    alice = UserFactory(researcher=True)
    api = api_for(alice)
    body = {
        "slug": "api-pairs",
        "title": "Pairs via the API",
        "conditions": [
            {"name": name, "stimulus_set": s.pk, "role": {"real": "reference"}.get(name, "system")}
            for name, s in sets.items()
        ],
        "test_type": "pairwise",
        "design_options": {"pairs_per_volunteer": 2},
        "headphone_check": False,
        "volume_check": False,
    }
    created = api.post("/api/studies/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["test_type"] == "pairwise"
    assert created.json()["design_options"] == {
        "questions": [{"key": "preference", "text": "Which clip do you prefer?"}],
        "pairs_per_volunteer": 2,
    }
    assert api.post("/api/studies/api-pairs/open/").status_code == 200
    participant = ParticipantFactory(study=Study.objects.get(slug="api-pairs"))
    for page in participant.pages.all():
        PageClip.objects.filter(page=page).update(
            first_played_at=timezone.now() - timedelta(seconds=5), ended_at=timezone.now()
        )
        services.pairwise_submit(
            participant=participant, public_id=page.public_id, choices={"preference": "A"}
        )
    progress = api.get("/api/studies/api-pairs/progress/").json()
    assert progress["test_type"] == "pairwise" and progress["ratings"] == 2
    assert len(progress["pairs"]) == 6 and sum(p["pages"] for p in progress["pairs"]) == 2

    body |= {"slug": "api-bad", "design_options": {"questions": "Which?"}}
    refused = api.post("/api/studies/", body, format="json")
    assert refused.status_code == 400 and "list of 1 to 5" in refused.content.decode()
    body |= {"test_type": "mushra"}
    refused = api.post("/api/studies/", body, format="json")
    assert (
        refused.status_code == 400
        and "Unknown mushra design option(s): questions" in refused.content.decode()
    )
    assert not Study.objects.filter(slug="api-bad").exists()


def test_form_chooses_the_design_and_the_study_page_shows_its_progress(client, sets):
    alice = UserFactory(researcher=True)
    client.force_login(alice)
    data = {
        "slug": "form-mushra",
        "title": "MUSHRA from the form",
        "consent_version": "1",
        "groups": 3,
        "clips_per_group": 5,
        "naturalness_definition": "n",
        "creativity_definition": "c",
        "musicality_definition": "m",
        "target_participants": 10,
        "languages": ["en"],
        "seat_timeout_minutes": 60,
        "test_type": "mushra",
        "design_options": '{"items_per_volunteer": 2}',
        "conditions-TOTAL_FORMS": 4,
        "conditions-INITIAL_FORMS": 4,
    }
    roles = {"real": "reference", "anchor": "low_anchor"}
    for k, (name, s) in enumerate(sets.items()):
        data |= {
            f"conditions-{k}-include": "on",
            f"conditions-{k}-stimulus_set": s.pk,
            f"conditions-{k}-name": name,
            f"conditions-{k}-role": roles.get(name, "system"),
        }
    response = client.post("/researcher/studies/new/", data)
    assert response.status_code == 302, response.context["form"].errors if response.context else ""
    study = Study.objects.get(slug="form-mushra")
    assert study.test_type == "mushra" and study.design_options["reference"] == "real"
    services.study_open(study=study)
    participant = ParticipantFactory(study=study)
    page = participant.pages.filter(is_practice=False).first()
    PageClip.objects.filter(page=page).update(
        first_played_at=timezone.now() - timedelta(seconds=5), ended_at=timezone.now()
    )
    services.mushra_submit(
        participant=participant,
        public_id=page.public_id,
        scores={clip.label: {"quality": 50} for clip in page.clips.all()},
    )
    html = client.get("/researcher/studies/form-mushra/").content.decode()
    assert "MUSHRA: 2 pages per volunteer, hidden reference real, anchor anchor" in html
    assert "Scored MUSHRA pages per condition and item" in html and "Pages answered" in html
    progress = client.get("/researcher/studies/form-mushra/progress.json").json()
    assert progress["ratings"] == 1 and sorted(r["ratings"] for r in progress["conditions"]) == [1, 1, 1, 1]

    data |= {"slug": "form-bad", "design_options": '{"anchor": "proposed"}'}
    refused = client.post("/researcher/studies/new/", data)
    assert refused.status_code == 200 and "must have the role low_anchor" in refused.content.decode()
    data |= {"design_options": "[1]"}
    refused = client.post("/researcher/studies/new/", data)
    assert "must be a JSON object" in refused.content.decode()
    assert not Study.objects.filter(slug="form-bad").exists()


def test_admin_checks_design_options_against_the_conditions():
    study = StudyFactory(test_type="pairwise")
    data = model_to_dict(study)
    data.update(
        {key: json.dumps(data[key]) for key in ("scale_definitions", "languages", "translations")},
        redirect_url="",
        analysis_options="{}",
    )
    for options, message in [
        ('{"pairs_per_volunteer": -1}', "from 1 to 200"),
        ('{"reference": "cond3"}', "Unknown pairwise design option"),
    ]:
        form = StudyAdminForm(data=data | {"design_options": options}, instance=study)
        assert not form.is_valid() and message in str(form.errors["design_options"])
    form = StudyAdminForm(data=data | {"design_options": '{"pairs_per_volunteer": 4}'}, instance=study)
    assert form.is_valid(), form.errors
    form.save()
    study.refresh_from_db()
    assert study.design_options["pairs_per_volunteer"] == 4 and len(study.design_options["questions"]) == 1

    services.study_open(study=study)
    ParticipantFactory(study=study)
    study.refresh_from_db()
    data |= {"status": "open", "design_options": json.dumps(study.design_options)}
    assert StudyAdminForm(data=data, instance=study).is_valid()  # unchanged: fine
    for change in [
        {"design_options": '{"pairs_per_volunteer": 5}'},
        {"test_type": "rating", "design_options": "{}"},
    ]:
        form = StudyAdminForm(data=data | change, instance=study)
        assert not form.is_valid() and "once volunteers have joined" in str(form.errors["design_options"])
    study.refresh_from_db()
    assert study.test_type == "pairwise" and study.design_options["pairs_per_volunteer"] == 4


# --- The volunteer API of the pages ---------------------------------------------------------------


def volunteer_client(client, participant):
    session = client.session
    session[SESSION_KEY] = {participant.study.slug: participant.token}
    session.save()
    return client


def test_volunteer_api_records_plays_and_refuses_an_unheard_page(client):
    study = OpenStudyFactory(test_type="mushra", headphone_check=False, volume_check=False, practice=False)
    participant = ParticipantFactory(study=study)
    volunteer_client(client, participant)
    page = participant.pages.first()
    clips = list(page.clips.all())
    base = f"/s/{study.slug}"
    answer = {"scores": {clip.label: {"quality": 60} for clip in clips}}
    refused = client.post(
        f"{base}/api/pages/{page.public_id}/answer/", answer, content_type="application/json"
    )
    assert refused.status_code == 409 and "to its end" in refused.json()["detail"]
    for clip in clips:
        played = client.post(
            f"{base}/api/clips/{clip.public_id}/events/", {"event": "play"}, content_type="application/json"
        )
        assert played.status_code == 200 and played.json() == {"plays": 1}
        ended = client.post(
            f"{base}/api/clips/{clip.public_id}/events/", {"event": "ended"}, content_type="application/json"
        )
        assert ended.status_code == 200
        audio = client.get(f"{base}/clip/{clip.public_id}/")
        assert audio.status_code == 200 and audio["Cache-Control"] == "private, no-store"
    PageClip.objects.filter(page=page).update(first_played_at=timezone.now() - timedelta(seconds=5))
    bad = client.post(
        f"{base}/api/pages/{page.public_id}/answer/",
        {"scores": {clip.label: {"quality": 101} for clip in clips}},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "0 to 100" in bad.json()["detail"]
    done = client.post(f"{base}/api/pages/{page.public_id}/answer/", answer, content_type="application/json")
    again = client.post(f"{base}/api/pages/{page.public_id}/answer/", answer, content_type="application/json")
    assert done.status_code == again.status_code == 200 and done.json() == again.json()
    assert MushraScore.objects.count() == 5


def test_volunteer_pages_carry_only_opaque_ids_and_labels(client):
    study = OpenStudyFactory(test_type="pairwise", headphone_check=False, volume_check=False, practice=False)
    participant = ParticipantFactory(study=study)
    volunteer_client(client, participant)
    html = client.get(f"/s/{study.slug}/go/").content.decode()
    page = participant.pages.order_by("position").first()
    assert page.public_id in html and "Which clip do you prefer?" in html
    for clip in page.clips.all():
        assert clip.public_id in html
    for condition in study.conditions.all():
        assert condition.name not in html and condition.stimulus_set.name not in html
    assert page.item_key not in html
    other = ParticipantFactory(study=study)
    theirs = other.pages.first()
    assert client.get(f"/s/{study.slug}/clip/{theirs.clips.first().public_id}/").status_code == 404
    refused = client.post(
        f"/s/{study.slug}/api/pages/{theirs.public_id}/answer/",
        {"choices": {"preference": "A"}},
        content_type="application/json",
    )
    assert refused.status_code == 403 and not PairwiseChoice.objects.exists()


def test_every_page_message_a_volunteer_can_meet_is_in_the_catalog_list():
    import ast
    import inspect

    found = set()
    for function in [
        services.page_clip_record_play,
        services._page_of,
        services._check_heard,
        services._mushra_score,
        services._answer_page,
        services.mushra_submit,
        services.pairwise_submit,
        services.participant_complete,
    ]:
        for node in ast.walk(ast.parse(inspect.getsource(function).strip())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                arg = node.exc.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
    assert len(found) >= 8 and found <= set(messages.SERVICE_MESSAGES)
    defaults = [s["label"] for s in services.DEFAULT_MUSHRA_SCALES]
    defaults += [q["text"] for q in services.DEFAULT_PAIRWISE_QUESTIONS]
    assert defaults == messages.DEFAULT_DESIGN_TEXTS


def test_after_screening_a_mushra_volunteer_gets_the_sliders_page_without_autoplay(client):
    study = OpenStudyFactory(test_type="mushra", practice=False)
    participant = ParticipantFactory(study=study)
    volunteer_client(client, participant)
    assert 'id="volume-play"' in client.get(f"/s/{study.slug}/go/").content.decode()
    services.participant_record_volume_check(participant=participant)
    services.participant_record_headphone_check(participant=participant, correct=6, total=6)
    html = client.get(f"/s/{study.slug}/go/").content.decode()
    assert "Score the clips" in html and "Page 1 of 3" in html and "Basic audio quality" in html
    assert html.count('type="range"') == 5 and "autoplay" not in html
    for label in "ABCDE":
        assert f'id="clip-play-{label}"' in html
    chinese = client.get(f"/s/{study.slug}/go/", headers={"Accept-Language": "zh-CN"}).content.decode()
    assert "为片段打分" in chinese and "基本音质" in chinese
