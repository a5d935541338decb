"""A study's texts in every offered language: Study.text, the services' checks, the researcher form,
the API, the command, the admin and the volunteer pages."""

import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict
from django.test import Client
from rest_framework.test import APIClient

from studies import services
from studies.admin import StudyAdminForm
from studies.models import DEFAULT_CONSENT_TEXT, DEFAULT_SCALE_DEFINITIONS, Study
from tests.factories import UserFactory
from tests.generation.factories import StimulusSetFactory
from tests.studies.factories import OpenStudyFactory, StudyFactory

pytestmark = pytest.mark.django_db

# The catalog's translations of the built-in texts (locale/zh_Hans/LC_MESSAGES/django.po).
BUILT_IN_CONSENT_ZH = "参与本研究完全自愿。"
BUILT_IN_NATURALNESS_ZH = "旋律听起来有多自然流畅，像是由人创作的。"
ZH_TEXTS = {
    "title": "纪录片配乐研究",
    "description": "请聆听几段音乐。",
    "consent_text": "我已知悉并同意参加。",
    "instructions": "请戴上耳机。",
    "scale_definitions": {"creativity": "旋律是否新颖？"},
}


def own_texts_study(**kwargs) -> Study:
    return StudyFactory(
        conditions=kwargs.pop("conditions", 0),
        title="Film music",
        description="Listen to a few clips.",
        consent_text="I agree to take part.",
        instructions="Wear headphones.",
        **kwargs,
    )


# --- Study.text ------------------------------------------------------------------------------


def test_text_gives_the_languages_own_text_and_falls_back_to_the_studys():
    study = own_texts_study(translations={"zh-hans": ZH_TEXTS})
    assert study.text("title", "zh-hans") == "纪录片配乐研究"
    assert study.text("consent_text", "zh-hans") == "我已知悉并同意参加。"
    assert study.text("consent_text", "en") == "I agree to take part."
    # Scale by scale: the given one, then the built-in default's catalog translation.
    definitions = study.text("scale_definitions", "zh-hans")
    assert definitions["creativity"] == "旋律是否新颖？"
    assert definitions["naturalness"] == BUILT_IN_NATURALNESS_ZH
    assert study.text("scale_definitions", "en") == DEFAULT_SCALE_DEFINITIONS

    study.translations = {}
    assert study.text("title", "zh-hans") == "Film music"  # a researcher's own text is not translated
    assert study.text("consent_text", "zh-hans") == "I agree to take part."
    study.consent_text = DEFAULT_CONSENT_TEXT
    assert study.text("consent_text", "zh-hans").startswith(BUILT_IN_CONSENT_ZH)
    assert study.text("consent_text", "en") == DEFAULT_CONSENT_TEXT
    with pytest.raises(ValueError, match="not one of a study's texts"):
        study.text("slug", "en")


# --- services --------------------------------------------------------------------------------


def test_translations_clean_drops_blank_texts():
    cleaned = services.translations_clean(
        {"zh-hans": {"title": " 标题 ", "description": "  ", "scale_definitions": {"naturalness": ""}}},
        languages=["en", "zh-hans"],
    )
    assert cleaned == {"zh-hans": {"title": "标题"}}
    assert services.translations_clean({"zh-hans": {"title": ""}}, languages=["en", "zh-hans"]) == {}
    assert services.translations_clean(None, languages=["en"]) == {}


@pytest.mark.parametrize(
    ("translations", "message"),
    [
        (["zh-hans"], "must be a JSON object"),
        ({"fr": {"title": "Musique"}}, r"in fr \(fr\), which the study does not offer"),
        ({"zh-hans": "同意"}, "Simplified Chinese texts must be an object"),
        ({"zh-hans": {"consent": "同意"}}, "Unknown Simplified Chinese text 'consent'"),
        ({"zh-hans": {"title": 3}}, "Simplified Chinese title must be text"),
        ({"zh-hans": {"title": "长" * 201}}, "longer than 200 characters"),
        ({"zh-hans": {"scale_definitions": {"melody": "旋律"}}}, "Unknown scale 'melody'"),
        ({"zh-hans": {"scale_definitions": "旋律"}}, "scale definitions must be an object"),
    ],
)
def test_study_create_refuses_bad_translations_and_saves_nothing(translations, message):
    stimulus_set = StimulusSetFactory(items=3)
    with pytest.raises(services.StudyError, match=message):
        services.study_create(
            slug="bad",
            title="T",
            owner=UserFactory(researcher=True),
            conditions=[("a", stimulus_set, "system")],
            groups=1,
            clips_per_group=1,
            translations=translations,
        )
    assert not Study.objects.exists()


def test_study_create_stores_translations_and_a_blank_consent_is_the_built_in_one():
    stimulus_set = StimulusSetFactory(items=3)
    study = services.study_create(
        slug="zh",
        title="T",
        owner=UserFactory(researcher=True),
        conditions=[("a", stimulus_set, "system")],
        groups=1,
        clips_per_group=1,
        translations={"zh-hans": {"title": "标题"}},
    )
    study.refresh_from_db()
    assert study.translations == {"zh-hans": {"title": "标题"}}
    assert study.consent_text == DEFAULT_CONSENT_TEXT
    assert services.consent_missing_languages(study) == []


def test_study_open_refuses_an_offered_language_without_its_consent_text():
    study = own_texts_study(conditions=2, items=3, groups=1, clips_per_group=2, translations={})
    with pytest.raises(
        services.StudyNotReady, match=r"offers Simplified Chinese \(zh-hans\) but has no consent"
    ):
        services.study_open(study=study)
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT and study.opened_at is None

    # Only the title in Chinese is not enough; the consent text is.
    Study.objects.filter(pk=study.pk).update(translations={"zh-hans": {"title": "标题"}})
    with pytest.raises(services.StudyNotReady, match="no consent text"):
        services.study_open(study=study)
    Study.objects.filter(pk=study.pk).update(translations={"zh-hans": {"consent_text": "我同意。"}})
    assert services.study_open(study=study).status == Study.Status.OPEN


def test_the_built_in_consent_counts_in_every_language_the_catalog_translates_it_into():
    study = own_texts_study(translations={})
    study.consent_text = DEFAULT_CONSENT_TEXT
    assert services.consent_missing_languages(study) == []
    study.consent_text = "I agree to take part."
    assert services.consent_missing_languages(study) == ["zh-hans"]
    study.languages = ["en"]
    assert services.consent_missing_languages(study) == []
    study.consent_text = "  "
    assert services.consent_missing_languages(study) == ["en"]
    study.languages = ["zh-hans"]
    study.translations = {"zh-hans": {"consent_text": "我同意。"}}
    assert services.consent_missing_languages(study) == []


# --- the researcher form ---------------------------------------------------------------------


@pytest.fixture
def researcher(client):
    user = UserFactory(username="alice", researcher=True)
    client.force_login(user)
    return user


def form_data(sets, **texts) -> dict:
    data = {
        "slug": "texts",
        "title": "Film music",
        "consent_text": "I agree to take part.",
        "consent_version": "1",
        "groups": 1,
        "clips_per_group": 2,
        "naturalness_definition": "natural?",
        "creativity_definition": "creative?",
        "musicality_definition": "musical?",
        "target_participants": 20,
        "languages": ["en", "zh-hans"],
        "seat_timeout_minutes": 60,
        "conditions-TOTAL_FORMS": len(sets),
        "conditions-INITIAL_FORMS": len(sets),
    }
    for k, s in enumerate(sets):
        data |= {
            f"conditions-{k}-include": "on",
            f"conditions-{k}-stimulus_set": s.pk,
            f"conditions-{k}-name": f"m{k}",
            f"conditions-{k}-role": "system",
        }
    return data | texts


def test_form_asks_for_each_languages_texts_and_stores_them(client, researcher):
    sets = [StimulusSetFactory(items=3) for _ in range(2)]
    page = client.get("/researcher/studies/new/").content.decode()
    assert "Texts in Simplified Chinese" in page and 'name="consent_text_zh_hans"' in page
    assert 'name="musicality_definition_zh_hans"' in page

    data = form_data(
        sets,
        title_zh_hans="纪录片配乐研究",
        consent_text_zh_hans="我已知悉并同意参加。",
        instructions_zh_hans="请戴上耳机。",
        creativity_definition_zh_hans="旋律是否新颖？",
    )
    response = client.post("/researcher/studies/new/", data)
    assert response.status_code == 302, response.context["form"].errors
    study = Study.objects.get(slug="texts")
    assert study.translations == {
        "zh-hans": {
            "title": "纪录片配乐研究",
            "consent_text": "我已知悉并同意参加。",
            "instructions": "请戴上耳机。",
            "scale_definitions": {"creativity": "旋律是否新颖？"},
        }
    }
    assert study.consent_text == "I agree to take part." and study.title == "Film music"
    services.study_open(study=study)


def test_form_refuses_an_own_consent_text_without_its_translation(client, researcher):
    sets = [StimulusSetFactory(items=3) for _ in range(2)]
    response = client.post("/researcher/studies/new/", form_data(sets))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "no consent text" in errors["consent_text_zh_hans"][0]
    assert "Simplified Chinese (zh-hans)" in response.content.decode()
    assert not Study.objects.exists()

    # The built-in consent text (a blank field) is translated already; so is an English-only study.
    assert client.post("/researcher/studies/new/", form_data(sets, consent_text="")).status_code == 302
    assert Study.objects.get(slug="texts").consent_text == DEFAULT_CONSENT_TEXT
    only_en = form_data(sets, slug="english", languages=["en"])
    assert client.post("/researcher/studies/new/", only_en).status_code == 302


def test_form_refuses_texts_in_a_language_not_offered(client, researcher):
    sets = [StimulusSetFactory(items=3) for _ in range(2)]
    data = form_data(sets, languages=["en"], consent_text_zh_hans="我同意。")
    response = client.post("/researcher/studies/new/", data)
    assert response.status_code == 200
    assert "which the study does not offer" in " ".join(response.context["form"].non_field_errors())
    assert not Study.objects.exists()


# --- the API ---------------------------------------------------------------------------------


def api_body(sets, **extra) -> dict:
    return {
        "slug": "api-texts",
        "title": "Film music",
        "consent_text": "I agree to take part.",
        "groups": 1,
        "clips_per_group": 2,
        "conditions": [{"name": f"c{k}", "stimulus_set": s.pk} for k, s in enumerate(sets)],
        **extra,
    }


def test_api_takes_and_shows_the_translations():
    api = APIClient()
    api.force_authenticate(UserFactory(researcher=True))
    sets = [StimulusSetFactory(items=3) for _ in range(2)]
    response = api.post("/api/studies/", api_body(sets, translations={"zh-hans": ZH_TEXTS}), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["translations"]["zh-hans"]["consent_text"] == "我已知悉并同意参加。"
    assert api.post("/api/studies/api-texts/open/").json()["status"] == "open"
    assert api.get("/api/studies/api-texts/").json()["translations"] == {"zh-hans": ZH_TEXTS}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, r"offers Simplified Chinese \(zh-hans\) but has no consent text"),
        ({"translations": {"zh-hans": {"consent": "同意"}}}, "Unknown Simplified Chinese text 'consent'"),
        ({"translations": {"fr": {"consent_text": "J'accepte"}}}, "which the study does not offer"),
    ],
)
def test_api_refuses_missing_or_bad_texts_and_creates_nothing(extra, message):
    api = APIClient()
    api.force_authenticate(UserFactory(researcher=True))
    sets = [StimulusSetFactory(items=3) for _ in range(2)]
    response = api.post("/api/studies/", api_body(sets, **extra), format="json")
    assert response.status_code == 400
    assert re.search(message, json.dumps(response.json(), ensure_ascii=False))
    assert not Study.objects.exists()


def test_api_open_refuses_a_draft_that_lost_its_translation():
    owner = UserFactory(researcher=True)
    study = own_texts_study(conditions=2, items=3, groups=1, clips_per_group=2, owner=owner, translations={})
    api = APIClient()
    api.force_authenticate(owner)
    response = api.post(f"/api/studies/{study.slug}/open/")
    assert response.status_code == 400 and "no consent text" in response.content.decode()
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


# --- the command -----------------------------------------------------------------------------


@pytest.fixture
def rita():
    StimulusSetFactory(name="proposed", items=3)
    StimulusSetFactory(name="real", items=3)
    return UserFactory(username="rita", researcher=True)


COMMAND = [
    "--slug=cli-texts",
    "--title=Film music",
    "--owner=rita",
    "--condition=proposed=proposed",
    "--condition=real=real:reference",
    "--groups=1",
    "--clips-per-group=2",
]


def test_command_reads_texts_per_language_from_files(rita, tmp_path):
    consent_en, consent_zh = tmp_path / "consent.en.txt", tmp_path / "consent.zh-hans.txt"
    consent_en.write_text("I agree to take part.\n\nYou may stop at any time.", encoding="utf-8")
    consent_zh.write_text("我已知悉并同意参加。\n\n您可以随时退出。", encoding="utf-8")
    call_command(
        "create_study",
        *COMMAND,
        f"--text=en:consent_text=@{consent_en}",
        f"--text=zh-hans:consent_text=@{consent_zh}",
        "--text=zh-hans:title=纪录片配乐研究",
        "--text=zh-hans:naturalness_definition=旋律自然吗？",
        "--open",
    )
    study = Study.objects.get(slug="cli-texts")
    assert study.status == Study.Status.OPEN
    assert study.consent_text == "I agree to take part.\n\nYou may stop at any time."
    assert study.translations == {
        "zh-hans": {
            "title": "纪录片配乐研究",
            "consent_text": "我已知悉并同意参加。\n\n您可以随时退出。",
            "scale_definitions": {"naturalness": "旋律自然吗？"},
        }
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--consent-text=I agree."], r"no consent text"),
        (["--consent-text=I agree.", "--open"], r"no consent text"),
        (["--text=zh-hans:consent_text"], "LANGUAGE:TEXT=VALUE"),
        (["--text=fr:consent_text=J'accepte"], "unknown language; the languages are en, zh-hans"),
        (["--text=zh-hans:consent=同意"], "unknown text; the texts are title"),
        (["--text=zh-hans:consent_text=@/nonexistent/consent.txt"], "cannot read '/nonexistent/consent.txt'"),
        (["--languages=en", "--text=zh-hans:consent_text=同意"], "which the study does not offer"),
    ],
)
def test_command_refuses_missing_or_bad_texts_and_creates_nothing(rita, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_study", *COMMAND, *args)
    assert not Study.objects.exists()


# --- the admin -------------------------------------------------------------------------------


def admin_data(study, **changes) -> dict:
    data = model_to_dict(study)
    data.update({key: json.dumps(value) for key, value in data.items() if isinstance(value, (dict, list))})
    data.update(redirect_url="", analysis_options="{}", **changes)
    return data


def test_admin_checks_translations_and_keeps_an_open_studys_consent_texts():
    study = OpenStudyFactory(consent_text="I agree to take part.", items=3, groups=1, clips_per_group=2)
    form = StudyAdminForm(
        data=admin_data(study, translations=json.dumps({"zh-hans": {"consent_text": "同意", "title": " "}})),
        instance=study,
    )
    assert form.is_valid(), form.errors
    form.save()
    study.refresh_from_db()
    assert study.translations == {"zh-hans": {"consent_text": "同意"}}

    for translations, message in [
        ({"zh-hans": {"title": "标题"}}, "no consent text"),
        ({"zh-hans": {"consent": "同意"}}, "Unknown Simplified Chinese text"),
    ]:
        form = StudyAdminForm(data=admin_data(study, translations=json.dumps(translations)), instance=study)
        assert not form.is_valid()
        assert message in form.errors["translations"][0]
    study.refresh_from_db()
    assert study.translations == {"zh-hans": {"consent_text": "同意"}}


# --- the volunteer pages ---------------------------------------------------------------------


def test_volunteer_reads_the_texts_of_the_language_shown():
    study = OpenStudyFactory(
        title="Film music",
        description="Listen to a few clips.",
        consent_text="I agree to take part.",
        instructions="Wear headphones.",
        translations={"zh-hans": ZH_TEXTS},
        headphone_check=False,
        volume_check=False,
        items=3,
    )
    client = Client()
    zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
    page = client.get(f"/s/{study.slug}/", headers=zh).content.decode()
    for text in ("纪录片配乐研究", "请聆听几段音乐。", "我已知悉并同意参加。"):
        assert text in page
    assert "I agree to take part." not in page and "Film music" not in page

    english = Client().get(f"/s/{study.slug}/", headers={"Accept-Language": "en"}).content.decode()
    assert "I agree to take part." in english and "Film music" in english and "纪录片" not in english

    client.post(f"/s/{study.slug}/", {"consent": "on", "consent_version": study.consent_version}, headers=zh)
    trial = client.get(f"/s/{study.slug}/go/", headers=zh).content.decode()
    assert "请戴上耳机。" in trial and "旋律是否新颖？" in trial and BUILT_IN_NATURALNESS_ZH in trial
    assert "Wear headphones." not in trial


def test_built_in_texts_reach_chinese_volunteers_translated():
    study = OpenStudyFactory(consent_text=DEFAULT_CONSENT_TEXT, translations={}, items=3)
    page = Client().get(f"/s/{study.slug}/", headers={"Accept-Language": "zh-CN"}).content.decode()
    assert BUILT_IN_CONSENT_ZH in page and "Taking part is voluntary" not in page
