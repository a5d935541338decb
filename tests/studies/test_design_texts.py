"""A MUSHRA study's scale labels and a pairwise study's questions in every offered language:
Study.design_texts, the services' checks, the command, the API, the admin and the volunteer pages."""

import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.forms.models import model_to_dict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from studies import services
from studies.admin import StudyAdminForm
from studies.forms import StudyForm
from studies.models import Study
from studies.volunteer.selectors import SESSION_KEY
from tests.factories import UserFactory
from tests.generation.factories import StimulusSetFactory
from tests.studies.factories import OpenStudyFactory, ParticipantFactory, StudyFactory

pytestmark = pytest.mark.django_db

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
# The catalog's translations of the built-in scale label and question (locale/zh_Hans/.../django.po).
BUILT_IN_QUALITY_ZH = "基本音质"
BUILT_IN_PREFERENCE_ZH = "您更喜欢哪个片段？"
QUESTIONS = [
    {"key": "preference", "text": "Which clip do you prefer?"},
    {"key": "fit", "text": "Which clip fits a documentary better?"},
]
SCALES = [
    {"key": "quality", "label": "Basic audio quality"},
    {"key": "fit", "label": "Fits a documentary"},
]
LANGUAGES = ["en", "zh-hans"]
CONSENT_ZH = {"consent_text": "我同意参加本研究。"}


# --- Study.design_texts ----------------------------------------------------------------------


def test_design_texts_give_the_languages_text_key_by_key_and_fall_back_to_the_studys():
    study = Study(
        test_type="pairwise",
        design_options={"questions": QUESTIONS},
        translations={"zh-hans": {"questions": {"fit": "哪一段更适合纪录片？"}}},
    )
    assert study.design_texts("questions", "zh-hans") == [
        {"key": "preference", "text": BUILT_IN_PREFERENCE_ZH},  # the built-in question: the catalog's
        {"key": "fit", "text": "哪一段更适合纪录片？"},
    ]
    assert study.design_texts("questions", "en") == QUESTIONS

    mushra = Study(
        test_type="mushra",
        design_options={"scales": SCALES},
        translations={"zh-hans": {"scale_labels": {"fit": "适合纪录片"}}},
    )
    assert mushra.design_texts("scale_labels", "zh-hans") == [
        {"key": "quality", "label": BUILT_IN_QUALITY_ZH},
        {"key": "fit", "label": "适合纪录片"},
    ]
    mushra.translations = {}
    # A researcher's own label is shown as written when no translation is given.
    assert mushra.design_texts("scale_labels", "zh-hans")[1] == {"key": "fit", "label": "Fits a documentary"}
    with pytest.raises(ValueError, match="not one of a study's design texts"):
        mushra.design_texts("scale_definitions", "en")


# --- services --------------------------------------------------------------------------------


def clean(translations, test_type, options):
    return services.translations_clean(
        translations, languages=LANGUAGES, test_type=test_type, design_options=options
    )


def test_translations_clean_keeps_design_texts_of_the_studys_keys_and_drops_blank_ones():
    cleaned = clean(
        {"zh-hans": {"questions": {"preference": " 你更喜欢哪一段？ ", "fit": "  "}}},
        "pairwise",
        {"questions": QUESTIONS},
    )
    assert cleaned == {"zh-hans": {"questions": {"preference": "你更喜欢哪一段？"}}}
    assert clean({"zh-hans": {"questions": {"fit": ""}}}, "pairwise", {"questions": QUESTIONS}) == {}
    # Options not given yet: the design's default scales.
    assert clean({"zh-hans": {"scale_labels": {"quality": "音质"}}}, "mushra", None) == {
        "zh-hans": {"scale_labels": {"quality": "音质"}}
    }


@pytest.mark.parametrize(
    ("texts", "test_type", "message"),
    [
        (
            {"questions": {"loudness": "哪一段更响？"}},
            "pairwise",
            r"Unknown question key 'loudness'.*preference, fit",
        ),
        ({"scale_labels": {"quality": "音质"}}, "pairwise", "scale_labels are texts of a MUSHRA study"),
        ({"questions": {"preference": "好"}}, "rating", "questions are texts of a pairwise study"),
        ({"questions": ["你更喜欢哪一段？"]}, "pairwise", "questions must be an object of key: text"),
        ({"questions": {"preference": 3}}, "pairwise", "questions must be text"),
        ({"questions": {"fit": "长" * 301}}, "pairwise", "question 'fit' is longer than 300 characters"),
        ({"scale_labels": {"fit": "长" * 301}}, "mushra", "scale label 'fit' is longer than 300"),
    ],
)
def test_translations_clean_refuses_bad_design_texts(texts, test_type, message):
    options = {"questions": QUESTIONS} if test_type == "pairwise" else {"scales": SCALES}
    with pytest.raises(services.StudyError, match=message):
        clean({"zh-hans": texts}, test_type, options)


def test_study_create_checks_design_texts_against_its_questions_and_saves_nothing():
    owner = UserFactory(researcher=True)
    sets = [StimulusSetFactory(items=3) for _ in range(2)]
    conditions = [("a", sets[0], "system"), ("b", sets[1], "system")]
    kwargs = {"owner": owner, "title": "Pairs", "test_type": "pairwise", "conditions": conditions}
    with pytest.raises(services.StudyError, match="Unknown question key 'fit'"):
        services.study_create(
            slug="bad", translations={"zh-hans": {**CONSENT_ZH, "questions": {"fit": "适合吗？"}}}, **kwargs
        )
    assert not Study.objects.exists()
    study = services.study_create(
        slug="good",
        design_options={"questions": QUESTIONS},
        translations={"zh-hans": {**CONSENT_ZH, "questions": {"fit": "哪一段更适合纪录片？"}}},
        **kwargs,
    )
    assert study.translations["zh-hans"]["questions"] == {"fit": "哪一段更适合纪录片？"}


# --- the command and the API -----------------------------------------------------------------


@pytest.fixture
def rita():
    for name in ("proposed", "bilstm", "real", "anchor"):
        StimulusSetFactory(name=name, items=3)
    return UserFactory(username="rita", researcher=True)


COMMAND = [
    "--slug=cli-design-texts",
    "--title=Design texts",
    "--owner=rita",
    "--condition=proposed=proposed",
    "--condition=bilstm=bilstm",
    "--condition=real=real:reference",
    "--condition=anchor=anchor:low_anchor",
    "--consent-text=I agree to take part.",
    "--text=zh-hans:consent_text=我同意参加本研究。",
]


def test_command_gives_questions_and_scale_labels_per_language(rita, tmp_path):
    question_zh = tmp_path / "fit.zh-hans.txt"
    question_zh.write_text("哪一段更适合纪录片？", encoding="utf-8")
    call_command(
        "create_study",
        *COMMAND,
        "--test-type=pairwise",
        "--question=preference=Which clip do you prefer?",
        "--question=fit=Which clip fits a documentary better?",
        "--text=zh-hans:question.preference=你更喜欢哪一段？",
        f"--text=zh-hans:question.fit=@{question_zh}",
        "--open",
    )
    study = Study.objects.get(slug="cli-design-texts")
    assert study.status == Study.Status.OPEN
    assert study.translations == {
        "zh-hans": {
            "consent_text": "我同意参加本研究。",
            "questions": {"preference": "你更喜欢哪一段？", "fit": "哪一段更适合纪录片？"},
        }
    }
    study.delete()
    call_command(
        "create_study", *COMMAND, "--test-type=mushra", "--text=zh-hans:scale_label.quality=整体音质"
    )
    study = Study.objects.get(slug="cli-design-texts")
    assert study.translations["zh-hans"]["scale_labels"] == {"quality": "整体音质"}
    assert study.design_texts("scale_labels", "zh-hans") == [{"key": "quality", "label": "整体音质"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--test-type=pairwise", "--text=zh-hans:question.fit=适合吗？"], "Unknown question key 'fit'"),
        (["--test-type=pairwise", "--text=zh-hans:scale_label.quality=音质"], "texts of a MUSHRA study"),
        (["--text=zh-hans:question.preference=好"], "texts of a pairwise study"),
        (["--test-type=pairwise", "--text=zh-hans:questions.preference=好"], "unknown text; the texts are"),
        (["--test-type=pairwise", "--text=en:question.preference=Which?"], "given with --question"),
        (["--test-type=pairwise", "--text=zh-hans:question.fit=@/nonexistent/q.txt"], "cannot read"),
    ],
)
def test_command_refuses_bad_design_texts_and_creates_nothing(rita, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_study", *COMMAND, *args)
    assert not Study.objects.exists()


def test_api_takes_design_texts_and_refuses_unknown_keys():
    api = APIClient()
    api.force_authenticate(UserFactory(researcher=True))
    sets = [StimulusSetFactory(items=3) for _ in range(2)]
    body = {
        "slug": "api-design-texts",
        "title": "Pairs",
        "consent_text": "I agree to take part.",
        "test_type": "pairwise",
        "design_options": {"questions": QUESTIONS},
        "conditions": [{"name": f"c{k}", "stimulus_set": s.pk} for k, s in enumerate(sets)],
    }
    bad = {"zh-hans": {**CONSENT_ZH, "questions": {"loudness": "哪一段更响？"}}}
    refused = api.post("/api/studies/", body | {"translations": bad}, format="json")
    assert refused.status_code == 400
    assert re.search("Unknown question key 'loudness'", json.dumps(refused.json(), ensure_ascii=False))
    assert not Study.objects.exists()
    good = {"zh-hans": {**CONSENT_ZH, "questions": {"fit": "哪一段更适合纪录片？"}}}
    response = api.post("/api/studies/", body | {"translations": good}, format="json")
    assert response.status_code == 201, response.content
    shown = api.get("/api/studies/api-design-texts/").json()["translations"]
    assert shown["zh-hans"]["questions"] == {"fit": "哪一段更适合纪录片？"}


def form_data(**changes) -> dict:
    return {
        "slug": "form-design-texts",
        "title": "Pairs",
        "consent_text": "I agree to take part.",
        "consent_text_zh_hans": "我同意参加本研究。",
        "consent_version": "1",
        "groups": 3,
        "clips_per_group": 5,
        "naturalness_definition": "n",
        "creativity_definition": "c",
        "musicality_definition": "m",
        "target_participants": 10,
        "languages": LANGUAGES,
        "seat_timeout_minutes": 60,
        "test_type": "pairwise",
        "design_options": json.dumps({"questions": QUESTIONS}),
        **changes,
    }


def test_form_takes_design_texts_beside_the_languages_other_texts(client):
    researcher = UserFactory(researcher=True)
    client.force_login(researcher)
    assert 'name="design_translations"' in client.get("/researcher/studies/new/").content.decode()
    texts = {"zh-hans": {"questions": {"fit": "哪一段更适合纪录片？"}}}
    form = StudyForm(form_data(design_translations=json.dumps(texts, ensure_ascii=False)))
    assert form.is_valid(), form.errors
    assert form.service_options()["translations"] == {
        "zh-hans": {"consent_text": "我同意参加本研究。", "questions": {"fit": "哪一段更适合纪录片？"}}
    }
    assert "design_translations" not in form.service_options()
    for bad, message in [
        ({"zh-hans": {"questions": {"loudness": "响"}}}, "Unknown question key 'loudness'"),
        ({"zh-hans": {"scale_labels": {"quality": "音质"}}}, "texts of a MUSHRA study"),
        (["zh-hans"], "must be a JSON object"),
    ]:
        form = StudyForm(form_data(design_translations=json.dumps(bad)))
        assert not form.is_valid() and message in json.dumps(form.errors, ensure_ascii=False)


# --- the admin -------------------------------------------------------------------------------


def test_admin_checks_design_texts_against_the_studys_scales():
    study = StudyFactory(test_type="mushra", design_options={"scales": SCALES})
    data = model_to_dict(study)
    data.update({key: json.dumps(value) for key, value in data.items() if isinstance(value, (dict, list))})
    data.update(redirect_url="", analysis_options="{}")
    bad = {"zh-hans": {**CONSENT_ZH, "scale_labels": {"loudness": "响度"}}}
    form = StudyAdminForm(data=data | {"translations": json.dumps(bad)}, instance=study)
    assert not form.is_valid() and "Unknown scale label key 'loudness'" in form.errors["translations"][0]
    good = {"zh-hans": {**CONSENT_ZH, "scale_labels": {"fit": "适合纪录片"}}}
    form = StudyAdminForm(data=data | {"translations": json.dumps(good)}, instance=study)
    assert form.is_valid(), form.errors
    form.save()
    study.refresh_from_db()
    assert study.translations["zh-hans"]["scale_labels"] == {"fit": "适合纪录片"}


# --- the volunteer pages ---------------------------------------------------------------------


def page_html(client: Client, study: Study, headers: dict) -> str:
    participant = ParticipantFactory(study=study)
    session = client.session
    session[SESSION_KEY] = {study.slug: participant.token}
    session.save()
    return client.get(f"/s/{study.slug}/go/", headers=headers).content.decode()


def test_a_chinese_volunteer_reads_the_pairwise_questions_in_chinese():
    study = OpenStudyFactory(
        test_type="pairwise",
        design_options={"questions": QUESTIONS},
        translations={"zh-hans": {**CONSENT_ZH, "questions": {"fit": "哪一段更适合纪录片？"}}},
        headphone_check=False,
        volume_check=False,
        practice=False,
    )
    chinese = page_html(Client(), study, ZH)
    assert "哪一段更适合纪录片？" in chinese and BUILT_IN_PREFERENCE_ZH in chinese
    assert (
        "Which clip fits a documentary better?" not in chinese and "Which clip do you prefer?" not in chinese
    )
    english = page_html(Client(), study, {"Accept-Language": "en"})
    assert "Which clip fits a documentary better?" in english and "哪一段" not in english


def test_a_chinese_volunteer_reads_the_mushra_scale_labels_in_chinese():
    study = OpenStudyFactory(
        test_type="mushra",
        design_options={"scales": SCALES},
        translations={"zh-hans": {**CONSENT_ZH, "scale_labels": {"fit": "适合纪录片"}}},
        headphone_check=False,
        volume_check=False,
        practice=False,
    )
    chinese = page_html(Client(), study, ZH)
    assert "适合纪录片" in chinese and BUILT_IN_QUALITY_ZH in chinese and "Fits a documentary" not in chinese
    english = page_html(Client(), study, {"Accept-Language": "en"})
    assert "Fits a documentary" in english and "适合纪录片" not in english


def test_translated_design_texts_cost_the_volunteer_page_no_query():
    counts = []
    for translations in [CONSENT_ZH, {**CONSENT_ZH, "questions": {"fit": "哪一段更适合纪录片？"}}]:
        study = OpenStudyFactory(
            test_type="pairwise",
            design_options={"questions": QUESTIONS},
            translations={"zh-hans": translations},
            headphone_check=False,
            volume_check=False,
            practice=False,
        )
        client = Client()
        page_html(client, study, ZH)
        with CaptureQueriesContext(connection) as queries:
            html = client.get(f"/s/{study.slug}/go/", headers=ZH).content.decode()
        assert BUILT_IN_PREFERENCE_ZH in html
        counts.append(len(queries))
    assert counts[0] == counts[1]
