"""Writes of the studies app: launching studies, joining volunteers, recording plays and ratings.

Every service is keyword-only, runs in one transaction and raises a StudyError (a Django
ValidationError whose message can be shown to the user as it is) when the user asked for
something the study does not allow; in that case nothing is changed.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from generation.audio import AudioError, mp3_format
from generation.models import Stimulus, StimulusSet
from studies import design
from studies.analysis.config import AnalysisConfig
from studies.models import (
    DESIGN_TEXTS,
    MUSHRA_MAX,
    MUSHRA_MIN,
    RATING_MAX,
    RATING_MIN,
    SCALES,
    TRANSLATABLE_TEXTS,
    Condition,
    Exposure,
    MushraScore,
    Page,
    PageClip,
    PairExposure,
    PairwiseChoice,
    Participant,
    Rating,
    Study,
    Trial,
    built_in_translation,
    default_consent_text,
    new_completion_code,
)
from studies.prepared import PreparedQuery, one_row

# The server hears of "play" a network trip after the audio started; allow that much slack
# before calling a submission early.
LISTEN_TOLERANCE_S = 0.5
# A runaway client must not grow a trial's event log without bound.
MAX_PLAY_EVENTS = 200
# A seat counts toward the target while its volunteer has passed screening (or the study has none),
# or is still screening and was seen this recently: a consent that goes no further stops holding a
# seat after these minutes, so fake or abandoned joins cannot turn real volunteers away.
SCREENING_SEAT_MINUTES = 10
# Prolific's ids are 24 hexadecimal characters; other recruiters use letters, digits, - and _.
PROLIFIC_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class StudyError(ValidationError):
    """Something the study does not allow; the message is meant for the person who asked.

    `http_status` is what the API answers for it (docbgm_site/api_errors.py): 400, an invalid
    request, unless a subclass says the state forbids it (409) or the trial is not the asker's (403).
    """

    http_status = 400


class StudyNotReady(StudyError):
    """The study cannot be opened as configured."""


class StudyNotOpen(StudyError):
    """The study is a draft or closed."""

    http_status = 409


class StudyFull(StudyError):
    """The study already has its target number of participants."""

    http_status = 409


class ConsentOutdated(StudyError):
    """The volunteer consented to another version of the consent text."""

    http_status = 409


class ParticipantInactive(StudyError):
    """The session has ended (completed, screened out or expired)."""

    http_status = 409


class TrialNotFound(StudyError):
    """No such trial in this volunteer's session (including another volunteer's trial)."""

    http_status = 403


class RatingInvalid(StudyError):
    """A scale is missing or outside 1-5."""


class ParticipantElsewhere(StudyError):
    """The Prolific ID already joined this study; its session stays in the browser that holds it."""


class ListenIncomplete(StudyError):
    """The rating came before the clip could have been heard to the end."""

    http_status = 409


# --- Studies -------------------------------------------------------------------------------


@transaction.atomic
def study_create(
    *,
    slug: str,
    title: str,
    owner,
    conditions: list[tuple[str, StimulusSet, str]],
    groups: int = 3,
    clips_per_group: int = 5,
    description: str = "",
    consent_text: str = "",
    consent_version: str = "1",
    translations: dict[str, dict[str, Any]] | None = None,
    instructions: str = "",
    scale_definitions: dict[str, str] | None = None,
    target_participants: int = 30,
    completion_code: str = "",
    redirect_url: str = "",
    languages: list[str] | None = None,
    headphone_check: bool = True,
    volume_check: bool = True,
    practice: bool = True,
    seat_timeout_minutes: int = 60,
    seed: int | None = None,
    analysis_options: dict[str, Any] | None = None,
    test_type: str = Study.TestType.RATING,
    design_options: dict[str, Any] | None = None,
) -> Study:
    """Create a draft study with its conditions.

    Args:
        conditions: (internal name, stimulus set version, role) per condition; role is one of
            "system", "reference", "low_anchor".
        consent_text: in the site's language; blank means the built-in DEFAULT_CONSENT_TEXT,
            which the catalog translates into every offered language.
        translations: the texts in other offered languages (Study.translations, checked by
            `translations_clean`); a text not given there falls back to the study's own.
        completion_code: shown to volunteers at the end; a random one when blank.
        seed: replays every assignment; random when None.
        analysis_options: the study's own analysis settings (screening thresholds and the like),
            any subset of `AnalysisConfig`'s fields; None or {} keeps the defaults.
        test_type: "rating" (the paper's design), "mushra" or "pairwise".
        design_options: the MUSHRA or pairwise options (design_options_clean); None or {}: the defaults.

    Raises:
        StudyError: invalid design options (the message says which), invalid fields, unknown or out-of-range analysis
            options, translations of a language not offered or of no such text, or duplicate
            condition names. A missing consent text is not refused here (a draft may lack it)
            but by study_open.
    """
    study = Study(
        slug=slug,
        title=title,
        owner=owner,
        groups=groups,
        clips_per_group=clips_per_group,
        description=description,
        consent_text=consent_text.strip() or default_consent_text(),
        consent_version=consent_version,
        instructions=instructions,
        target_participants=target_participants,
        completion_code=completion_code or new_completion_code(),
        redirect_url=redirect_url,
        headphone_check=headphone_check,
        volume_check=volume_check,
        practice=practice,
        seat_timeout_minutes=seat_timeout_minutes,
    )
    if scale_definitions is not None:
        study.scale_definitions = scale_definitions
    if languages is not None:
        study.languages = languages
    if seed is not None:
        study.seed = seed
    study.analysis_options = analysis_options_clean(analysis_options)
    study.test_type = test_type
    study.design_options = design_options_clean(
        test_type=test_type, options=design_options, conditions=[(name, role) for name, _, role in conditions]
    )
    _validate_study_fields(study)
    study.translations = translations_clean(
        translations, languages=study.languages, test_type=test_type, design_options=study.design_options
    )
    _full_clean(study)
    study.save()
    names = [name for name, _, _ in conditions]
    if len(set(names)) != len(names):
        raise StudyError("Two conditions have the same name.")
    for name, stimulus_set, role in conditions:
        condition = Condition(study=study, name=name, stimulus_set=stimulus_set, role=role)
        _full_clean(condition, exclude=["study"])
        condition.save()
    return study


def _validate_study_fields(study: Study) -> None:
    definitions = study.scale_definitions
    if not isinstance(definitions, dict) or set(definitions) != set(SCALES):
        raise StudyError(f"Scale definitions must define exactly: {', '.join(SCALES)}.")
    if not all(isinstance(v, str) and v.strip() for v in definitions.values()):
        raise StudyError("Every scale needs a one-line definition.")
    known = {code for code, _ in settings.LANGUAGES}
    if not study.languages or not set(study.languages) <= known:
        raise StudyError(f"Languages must be a non-empty subset of: {', '.join(sorted(known))}.")


LANGUAGE_NAMES = dict(settings.LANGUAGES)


def translations_clean(
    translations: Any,
    *,
    languages: list[str],
    test_type: str = Study.TestType.RATING,
    design_options: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """A study's texts in other languages (Study.translations), checked; blank texts are dropped, so
    they fall back to the study's own. The form, the API, the command and the admin use it.

    Args:
        translations: {language: {text name: text}}, None or {} for none; scale_definitions is
            {scale: definition} and may give some scales only; a MUSHRA study's "scale_labels" is
            {scale key: label} and a pairwise study's "questions" {question key: text}
            (models.DESIGN_TEXTS), some keys only if need be.
        languages: the study's offered languages; a translation must be for one of them.
        test_type, design_options: the study's design, whose scale or question keys the design
            texts must name (options not given: the design's default scales or questions).

    Raises:
        StudyError: not an object, a language the study does not offer, a text that is not one of
            TRANSLATABLE_TEXTS or the design's texts, a text that is not a string, an unknown scale
            or design key, a title over 200 characters or a scale label or question over 300; the
            message names each.
    """
    if translations is None:
        return {}
    if not isinstance(translations, dict):
        raise StudyError('Translations must be a JSON object: {"zh-hans": {"consent_text": "..."}}.')
    design_keys = _design_text_keys(test_type, design_options)
    allowed = (*TRANSLATABLE_TEXTS, *design_keys)
    cleaned: dict[str, dict[str, Any]] = {}
    for language, texts in translations.items():
        name = LANGUAGE_NAMES.get(language, language)
        if language not in languages:
            raise StudyError(
                f"Texts are given in {name} ({language}), which the study does not offer: offer it "
                f"or leave those texts out (offered: {', '.join(languages)})."
            )
        if not isinstance(texts, dict):
            raise StudyError(f"The {name} texts must be an object of text name: text.")
        unknown = sorted(set(texts) - set(allowed))
        if unknown:
            other_design = [kind for kind in unknown if kind in DESIGN_TEXTS]
            if other_design:
                raise StudyError(
                    f"The {name} {other_design[0]} are texts of a "
                    f"{'MUSHRA' if other_design[0] == 'scale_labels' else 'pairwise'} study; "
                    f"this one is a {test_type} study."
                )
            raise StudyError(
                f"Unknown {name} text {', '.join(map(repr, unknown))}: the texts are {', '.join(allowed)}."
            )
        kept: dict[str, Any] = {}
        for field, text in texts.items():
            if field == "scale_definitions":
                definitions = _scale_translations_clean(text, name)
                if definitions:
                    kept[field] = definitions
                continue
            if field in DESIGN_TEXTS:
                design_texts = _design_translations_clean(text, name, field, design_keys[field])
                if design_texts:
                    kept[field] = design_texts
                continue
            if not isinstance(text, str):
                raise StudyError(f"The {name} {field} must be text.")
            if field == "title" and len(text.strip()) > 200:
                raise StudyError(f"The {name} title is longer than 200 characters.")
            if text.strip():
                kept[field] = text.strip()
        if kept:
            cleaned[language] = kept
    return cleaned


def _scale_translations_clean(definitions: Any, name: str) -> dict[str, str]:
    if not isinstance(definitions, dict):
        raise StudyError(f"The {name} scale definitions must be an object of scale: definition.")
    unknown = sorted(set(definitions) - set(SCALES))
    if unknown:
        raise StudyError(
            f"Unknown scale {', '.join(map(repr, unknown))}: the scales are {', '.join(SCALES)}."
        )
    if not all(isinstance(text, str) for text in definitions.values()):
        raise StudyError(f"The {name} scale definitions must be text.")
    return {scale: text.strip() for scale, text in definitions.items() if text.strip()}


def _design_text_keys(test_type: str, design_options: dict[str, Any] | None) -> dict[str, list[str]]:
    """{design text name: the keys it may translate} of a study's design (none for ratings)."""
    defaults = {
        Study.TestType.MUSHRA: DEFAULT_MUSHRA_SCALES,
        Study.TestType.PAIRWISE: DEFAULT_PAIRWISE_QUESTIONS,
    }
    if test_type not in defaults:
        return {}
    kind = "scale_labels" if test_type == Study.TestType.MUSHRA else "questions"
    option, _ = DESIGN_TEXTS[kind]
    entries = (design_options or {}).get(option) or defaults[test_type]
    if not isinstance(entries, list):
        return {kind: []}
    return {kind: [entry["key"] for entry in entries if isinstance(entry, dict) and "key" in entry]}


def _design_translations_clean(texts: Any, name: str, kind: str, keys: list[str]) -> dict[str, str]:
    what = "scale labels" if kind == "scale_labels" else "questions"
    if not isinstance(texts, dict):
        raise StudyError(f"The {name} {what} must be an object of key: text.")
    unknown = sorted(set(texts) - set(keys))
    if unknown:
        raise StudyError(
            f"Unknown {what[:-1]} key {', '.join(map(repr, unknown))} in the {name} {what}: "
            f"the study's keys are {', '.join(keys)}."
        )
    if not all(isinstance(text, str) for text in texts.values()):
        raise StudyError(f"The {name} {what} must be text.")
    too_long = sorted(key for key, text in texts.items() if len(text.strip()) > 300)
    if too_long:
        raise StudyError(f"The {name} {what[:-1]} {too_long[0]!r} is longer than 300 characters.")
    return {key: text.strip() for key, text in texts.items() if text.strip()}


def consent_missing_languages(study: Study) -> list[str]:
    """The offered languages a volunteer would read no consent text in (in the study's order).

    A language has its consent text when `translations` gives one, or when the study's own text is
    in it: the site's language, or any language the catalog translates the built-in
    DEFAULT_CONSENT_TEXT into (a researcher's own text counts only in the site's language). Works
    on an unsaved Study too, so the form can ask before anything is created.
    """
    missing = []
    for language in study.languages:
        given = ((study.translations or {}).get(language) or {}).get("consent_text", "")
        own = study.consent_text.strip()
        in_language = own and (language == settings.LANGUAGE_CODE or built_in_translation(own, language))
        if not (given.strip() or in_language):
            missing.append(language)
    return missing


def consent_missing_message(languages: list[str]) -> str:
    names = ", ".join(f"{LANGUAGE_NAMES.get(code, code)} ({code})" for code in languages)
    return (
        f"The study offers {names} but has no consent text in it: give the consent text in each "
        "offered language (a researcher's own consent text is not translated; only the built-in "
        "one is), or stop offering the language."
    )


def analysis_options_clean(options: Any) -> dict[str, Any]:
    """A study's analysis options, checked against AnalysisConfig (the forms use it too); None,
    an empty form field, means no options.

    Raises:
        StudyError: not an object, an unknown key, a wrong type or a value out of range; the
            message names each.
    """
    try:
        return AnalysisConfig.check_options({} if options is None else options)
    except ValueError as error:
        raise StudyError(str(error)) from error


DEFAULT_MUSHRA_SCALES = [{"key": "quality", "label": "Basic audio quality"}]
DEFAULT_PAIRWISE_QUESTIONS = [{"key": "preference", "text": "Which clip do you prefer?"}]
DEFAULT_ITEMS_PER_VOLUNTEER = 3  # three pages of every condition: the paper's 15 clips for 5 conditions
MAX_DESIGN_ENTRIES = 5  # scales or questions on one page
DESIGN_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DESIGN_OPTION_KEYS = {
    Study.TestType.RATING: set(),
    Study.TestType.MUSHRA: {"reference", "anchor", "scales", "items_per_volunteer"},
    Study.TestType.PAIRWISE: {"questions", "pairs_per_volunteer"},
}


def _design_entries(value, *, what: str, text_field: str, default: list[dict]) -> list[dict]:
    """MUSHRA scales or pairwise questions: [{"key": ..., text_field: ...}], keys unique."""
    if value is None:
        return [dict(entry) for entry in default]
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_DESIGN_ENTRIES:
        raise StudyError(f"The {what}s must be a list of 1 to {MAX_DESIGN_ENTRIES}.")
    entries = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"key", text_field}:
            raise StudyError(f'Each {what} needs exactly a "key" and a "{text_field}".')
        key, text = entry["key"], entry[text_field]
        if not isinstance(key, str) or not DESIGN_KEY_RE.match(key):
            raise StudyError(
                f"The {what} key {key!r} must be 1 to 40 lower-case letters, digits or _, "
                "starting with a letter."
            )
        if not isinstance(text, str) or not text.strip() or len(text) > 300:
            raise StudyError(f"The {what} {key!r} needs a {text_field} of 1 to 300 characters.")
        entries.append({"key": key, text_field: text.strip()})
    if len({e["key"] for e in entries}) != len(entries):
        raise StudyError(f"Two {what}s have the same key.")
    return entries


def _design_count(value, *, what: str, default: int, maximum: int = 200) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise StudyError(f"{what} must be a whole number from 1 to {maximum}.")
    return value


def _role_condition(conditions: list[tuple[str, str]], value, *, what: str, role: str, required: bool):
    """The condition named `value` (it must have `role`), or else the study's one condition with `role`."""
    roles = dict(conditions)
    with_role = [name for name, r in conditions if r == role]
    if value is None:
        if len(with_role) == 1:
            return with_role[0]
        if not required and not with_role:
            return None
        raise StudyError(
            f"Name the MUSHRA {what}: the study has {len(with_role)} conditions with the role {role}."
        )
    if not isinstance(value, str) or value not in roles:
        raise StudyError(f"The MUSHRA {what} {value!r} is not a condition of the study ({', '.join(roles)}).")
    if roles[value] != role:
        raise StudyError(
            f"The MUSHRA {what} {value!r} must have the role {role} (it has {roles[value]}), so that "
            "the analyses treat it as one."
        )
    return value


def design_options_clean(
    *, test_type: str, options: Any, conditions: list[tuple[str, str]]
) -> dict[str, Any]:
    """The design options of a study of `test_type`, checked, with every default filled in.

    MUSHRA: {"reference": condition name (role reference; default the one such condition),
    "anchor": condition name (role low_anchor) or None, "scales": [{"key", "label"}],
    "items_per_volunteer": int}; pairwise: {"questions": [{"key", "text"}], "pairs_per_volunteer":
    int (default every pair once)}; rating: none. Whether the items suffice is study_open's check.

    Args:
        options: the researcher's options (None or {}: the defaults).
        conditions: (name, role) of each of the study's conditions.

    Raises:
        StudyError: an unknown test type or option, or a value that does not fit; the message says which.
    """
    if test_type not in Study.TestType.values:
        raise StudyError(f"The test type must be one of: {', '.join(Study.TestType.values)}.")
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise StudyError("The design options must be an object.")
    unknown = sorted(set(options) - DESIGN_OPTION_KEYS[test_type])
    if unknown:
        allowed = ", ".join(sorted(DESIGN_OPTION_KEYS[test_type])) or "none"
        raise StudyError(f"Unknown {test_type} design option(s): {', '.join(unknown)} (allowed: {allowed}).")
    if test_type == Study.TestType.MUSHRA:
        if not 2 <= len(conditions) <= design.MAX_PAGE_CLIPS:
            raise StudyError(f"A MUSHRA study needs 2 to {design.MAX_PAGE_CLIPS} conditions.")
        return {
            "reference": _role_condition(
                conditions, options.get("reference"), what="reference", role="reference", required=True
            ),
            "anchor": _role_condition(
                conditions, options.get("anchor"), what="anchor", role="low_anchor", required=False
            ),
            "scales": _design_entries(
                options.get("scales"), what="scale", text_field="label", default=DEFAULT_MUSHRA_SCALES
            ),
            "items_per_volunteer": _design_count(
                options.get("items_per_volunteer"),
                what="Items per volunteer",
                default=DEFAULT_ITEMS_PER_VOLUNTEER,
            ),
        }
    if test_type == Study.TestType.PAIRWISE:
        if len(conditions) < 2:
            raise StudyError("A pairwise study needs at least two conditions.")
        n_pairs = len(conditions) * (len(conditions) - 1) // 2
        return {
            "questions": _design_entries(
                options.get("questions"),
                what="question",
                text_field="text",
                default=DEFAULT_PAIRWISE_QUESTIONS,
            ),
            "pairs_per_volunteer": _design_count(
                options.get("pairs_per_volunteer"), what="Pairs per volunteer", default=n_pairs
            ),
        }
    return {}


def _full_clean(instance, exclude=None, **checks) -> None:
    try:
        instance.full_clean(exclude=exclude, **checks)
    except ValidationError as error:
        raise StudyError(error.message_dict if hasattr(error, "error_dict") else error.messages) from error


def study_items(*, study: Study) -> list[str]:
    """The musical items every condition's stimulus set renders (sorted)."""
    sets = [set(c.stimulus_set.stimuli.values_list("item_key", flat=True)) for c in study.conditions.all()]
    return sorted(set.intersection(*sets)) if sets else []


CLIP_DIFFERENCES_SHOWN = 5  # in study_open's refusal; the rest are counted


def _clip_file_description(stimulus) -> dict[str, str]:
    """What a volunteer's browser can see of a clip's file without hearing it."""
    from studies.volunteer.audio import clean_audio

    try:
        served = clean_audio(Path(stimulus.audio.path))
        encoding = mp3_format(stimulus.audio.path)
    except (OSError, ValueError, AudioError) as error:
        return {"file": f"unreadable ({error})"}
    bitrate = f"{encoding.bitrate_kbps} kbps" if encoding.bitrate_kbps else "variable bitrate"
    return {
        "served bytes": str(served.size),
        "duration": f"{stimulus.duration_s:.3f} s",
        "type": served.content_type,
        "encoding": f"{encoding.sample_rate} Hz {encoding.channel_mode} {bitrate} {encoding.encoder}".strip(),
    }


def clip_differences(*, conditions: list[Condition]) -> list[str]:
    """Every way the clips of one item differ between conditions in what their files show.

    A volunteer's browser sees a clip's Content-Length before it plays, and can read its encoding
    and duration; so every clip of one item must have the same served byte size, duration, sample
    rate and encoder settings in every condition (constant-bitrate MP3s of one length do).

    Returns:
        "item: what differs (condition value, ...)" lines, sorted by item; empty when all agree.
    """
    described: dict[str, dict[str, dict[str, str]]] = {}
    for condition in conditions:
        for stimulus in condition.stimulus_set.stimuli.all():
            described.setdefault(stimulus.item_key, {})[condition.name] = _clip_file_description(stimulus)
    differences = []
    for item, by_condition in sorted(described.items()):
        for what in dict.fromkeys(k for description in by_condition.values() for k in description):
            values = {name: description.get(what, "-") for name, description in by_condition.items()}
            if len(set(values.values())) > 1:
                listed = ", ".join(f"{name} {value}" for name, value in values.items())
                differences.append(f"{item}: {what} differs ({listed})")
    return differences


@transaction.atomic
def study_open(*, study: Study) -> Study:
    """Open a draft (or reopen a closed) study to volunteers.

    Raises:
        StudyNotReady: an offered language without its consent text (`consent_missing_languages`),
            no conditions, a stimulus set not ready, sets rendering different items, too few
            items for the design, or clips of an item whose files differ between conditions
            (`clip_differences`). The message says which.
    """
    study = Study.objects.select_for_update().get(pk=study.pk)
    missing = consent_missing_languages(study)
    if missing:
        raise StudyNotReady(consent_missing_message(missing))
    conditions = list(study.conditions.select_related("stimulus_set"))
    if not conditions:
        raise StudyNotReady("The study has no conditions.")
    not_ready = [c.name for c in conditions if c.stimulus_set.status != StimulusSet.Status.READY]
    if not_ready:
        raise StudyNotReady(f"Stimulus sets not ready for: {', '.join(not_ready)}.")
    item_sets = {c.name: set(c.stimulus_set.stimuli.values_list("item_key", flat=True)) for c in conditions}
    first = next(iter(item_sets.values()))
    differing = [name for name, items in item_sets.items() if items != first]
    if differing:
        raise StudyNotReady(
            f"The conditions must render the same items; these differ from {conditions[0].name}: "
            f"{', '.join(differing)}."
        )
    try:
        # Again at opening: the admin may have changed the options or the conditions since.
        study.design_options = design_options_clean(
            test_type=study.test_type,
            options=study.design_options,
            conditions=[(c.name, c.role) for c in conditions],
        )
        _check_study_design(study, n_conditions=len(conditions), n_items=len(first))
    except StudyError as error:
        raise StudyNotReady(error.messages[0]) from error
    except design.DesignError as error:
        raise StudyNotReady(str(error)) from error
    differences = clip_differences(conditions=conditions)
    if differences:
        shown = differences[:CLIP_DIFFERENCES_SHOWN]
        more = len(differences) - len(shown)
        raise StudyNotReady(
            "The clips of an item must be files alike in every condition, or a volunteer's browser "
            "could tell the condition from the file alone (its size shows before it plays): "
            + "; ".join(shown)
            + (f"; and {more} more." if more else ".")
            + " Render or import the sets again with the same clip length."
        )
    study.status = Study.Status.OPEN
    study.opened_at = study.opened_at or timezone.now()
    study.closed_at = None
    study.save(update_fields=["status", "opened_at", "closed_at", "design_options"])
    if study.test_type == Study.TestType.PAIRWISE:
        _pair_exposure_rows(study, [c.pk for c in conditions], sorted(first))
    else:
        _exposure_rows(study, [c.pk for c in conditions], sorted(first))
    return study


def _check_study_design(study: Study, *, n_conditions: int, n_items: int) -> None:
    """The study's design (its test type and options) fits its conditions and items, or DesignError."""
    options = study.design_options
    if study.test_type == Study.TestType.MUSHRA:
        design.check_mushra(
            n_conditions=n_conditions, n_items=n_items, items_per_volunteer=options["items_per_volunteer"]
        )
    elif study.test_type == Study.TestType.PAIRWISE:
        design.check_pairwise(
            n_conditions=n_conditions, n_items=n_items, pairs_per_volunteer=options["pairs_per_volunteer"]
        )
    else:
        design.check_design(
            n_conditions=n_conditions,
            n_items=n_items,
            groups=study.groups,
            clips_per_group=study.clips_per_group,
        )


@transaction.atomic
def study_close(*, study: Study) -> Study:
    """Close the study: no one joins, plays or rates any more. Idempotent."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status != Study.Status.CLOSED:
        study.status = Study.Status.CLOSED
        study.closed_at = timezone.now()
        study.save(update_fields=["status", "closed_at"])
    return study


# --- Joining and the balanced assignment -----------------------------------------------------


def release_abandoned_seats(*, study: Study, now=None) -> int:
    """Mark sessions idle longer than the study's seat timeout as abandoned; return how many.

    Their unrated trials stop counting as exposure (see exposure_counts), so the next volunteer
    gets those clips. Call it inside the transaction that holds the study's row lock. The stale
    participants' rows are locked before their status changes, so a rating they are submitting
    right now either lands first (and keeps counting) or is refused as expired.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=study.seat_timeout_minutes)
    stale = list(
        Participant.objects.select_for_update()
        .filter(study=study, status__in=Participant.LIVE_STATUSES, last_seen_at__lt=cutoff)
        .values_list("pk", flat=True)
    )
    if stale:
        Participant.objects.filter(pk__in=stale).update(status=Participant.Status.ABANDONED)
        _exposure_release(study, stale)
    return len(stale)


def seats_taken(*, study: Study, now=None) -> int:
    """Participants that count toward `study.target_participants` (see SCREENING_SEAT_MINUTES).

    Completed sessions and those rating (screening passed, or none asked for) count; a session still
    in its volume or headphone check counts only while it was seen in the last
    SCREENING_SEAT_MINUTES; screened-out and abandoned sessions never do.
    """
    now = now or timezone.now()
    recent = now - timedelta(minutes=SCREENING_SEAT_MINUTES)
    return Participant.objects.filter(
        Q(status__in=[Participant.Status.COMPLETED, Participant.Status.RATING])
        | Q(
            status__in=[Participant.Status.CONSENTED, Participant.Status.SCREENING],
            last_seen_at__gte=recent,
        ),
        study=study,
    ).count()


def prolific_id_clean(value: str) -> str:
    """ "" or a recruiter's id of 1-64 letters, digits, - and _ (Prolific's are 24 hex characters).

    Raises:
        StudyError: any other value; the message says what an id looks like.
    """
    value = (value or "").strip()
    if value and not PROLIFIC_ID_RE.match(value):
        raise StudyError(
            "The study link is not valid: its Prolific ids must be 1 to 64 letters, digits, "
            "hyphens or underscores. Please open the link from Prolific again."
        )
    return value


def exposure_counts(*, study: Study) -> Counter:
    """(condition id, item) -> trials that were rated or may still be (practice excluded).

    A trial counts while its participant is live, and for ever once rated: an abandoned or
    screened-out seat's unrated trials are released. A MUSHRA study counts its pages' clips the
    same way (a page counts once submitted).
    """
    if study.test_type == Study.TestType.MUSHRA:
        return Counter(_counted_page_clips(study).values_list("condition_id", "page__item_key").iterator())
    trials = Trial.objects.filter(participant__study=study, is_practice=False).filter(
        Q(participant__status__in=Participant.LIVE_STATUSES + (Participant.Status.COMPLETED,))
        | Q(rating__isnull=False)
    )
    return Counter(
        (condition_id, item)
        for condition_id, item in trials.values_list("condition_id", "stimulus__item_key")
    )


def _counted_page_clips(study: Study):
    """The clips of the study's main pages that count as exposure: live seats', and answered pages."""
    return PageClip.objects.filter(page__participant__study=study, page__is_practice=False).filter(
        Q(page__participant__status__in=Participant.LIVE_STATUSES + (Participant.Status.COMPLETED,))
        | Q(page__submitted_at__isnull=False)
    )


def _pair_sides(clips) -> Counter:
    """(first, second, item) -> Counter of 0 (first on the left) / 1 (first on the right), from
    (page id, item, condition id, slot) rows of two-clip pages."""
    by_page: dict[int, dict] = {}
    for page_id, item, condition_id, slot in clips:
        by_page.setdefault(page_id, {"item": item})[slot] = condition_id
    return Counter(_pair_side(page[0], page[1], page["item"]) for page in by_page.values())


def _pair_side(left: int, right: int, item: str) -> tuple[int, int, str, int]:
    """A pairwise page's PairExposure key and side: (first, second, item, 0 if first is on the left else 1)."""
    first, second = sorted((left, right))
    return first, second, item, 0 if left == first else 1


def pair_exposure_counts(*, study: Study) -> dict[tuple[int, int, str], tuple[int, int]]:
    """(first condition id, second condition id, item) -> (pages with first on the left, on the
    right), counted from the pages like exposure_counts (first id < second id; zeros left out)."""
    sides = _pair_sides(
        _counted_page_clips(study).values_list("page_id", "page__item_key", "condition_id", "slot").iterator()
    )
    keys = {key[:3] for key in sides}
    return {key: (sides[(*key, 0)], sides[(*key, 1)]) for key in sorted(keys)}


def pair_exposure_counts_stored(*, study: Study) -> dict[tuple[int, int, str], tuple[int, int]]:
    """pair_exposure_counts as the joins keep it (studies.models.PairExposure)."""
    return {
        (first, second, item): (left, right)
        for first, second, item, left, right in PairExposure.objects.filter(first__study=study)
        .order_by("first_id", "second_id", "item_key")
        .values_list("first_id", "second_id", "item_key", "first_left", "first_right")
        if left or right
    }


def _pair_exposure_rows(
    study: Study, conditions: list[int], items: list[str]
) -> dict[tuple[int, int, str], PairExposure]:
    """The study's PairExposure rows, locked in primary-key order; (re)built from a recount if any is
    missing. Call it holding the study's lock (as _exposure_rows)."""
    rows = {
        (row.first_id, row.second_id, row.item_key): row
        for row in PairExposure.objects.select_for_update().filter(first__study=study).order_by("pk")
    }
    ordered = sorted(conditions)
    wanted = {(a, b, i) for a, b in design.condition_pairs(ordered) for i in items}
    if wanted - set(rows):
        recount = pair_exposure_counts(study=study)
        PairExposure.objects.filter(first__study=study).delete()
        built = PairExposure.objects.bulk_create(
            [
                PairExposure(
                    first_id=a,
                    second_id=b,
                    item_key=i,
                    first_left=recount.get((a, b, i), (0, 0))[0],
                    first_right=recount.get((a, b, i), (0, 0))[1],
                )
                for a, b, i in sorted(wanted)
            ]
        )
        rows = {(row.first_id, row.second_id, row.item_key): row for row in built}
    return rows


def _pair_exposure_add(rows: dict[tuple[int, int, str], PairExposure], sides: Counter, sign: int) -> None:
    """Add (sign=1) or take off (sign=-1) (first, second, item, side) counts from locked rows."""
    for (first, second, item, side), n in sides.items():
        row = rows.get((first, second, item))
        if row is not None and n:
            field = "first_left" if side == 0 else "first_right"
            PairExposure.objects.filter(pk=row.pk).update(**{field: F(field) + sign * n})


def exposure_counts_stored(*, study: Study) -> Counter:
    """exposure_counts as the joins keep it (studies.models.Exposure): one row per pair, no recount."""
    return Counter(
        {
            (condition_id, item): n
            for condition_id, item, n in Exposure.objects.filter(condition__study=study).values_list(
                "condition_id", "item_key", "count"
            )
            if n
        }
    )


def _exposure_rows(study: Study, conditions: list[int], items: list[str]) -> dict[tuple[int, str], Exposure]:
    """The study's Exposure rows, locked in primary-key order; (re)built from a recount if any
    pair is missing (a study opened before the rows existed). Call it holding the study's lock.

    Every writer of these rows locks them in primary-key order, so joins and releases never deadlock.
    """
    rows = {
        (row.condition_id, row.item_key): row
        for row in Exposure.objects.select_for_update().filter(condition__study=study).order_by("pk")
    }
    wanted = {(c, i) for c in conditions for i in items}
    if wanted - set(rows):
        recount = exposure_counts(study=study)
        Exposure.objects.filter(condition__study=study).delete()
        built = Exposure.objects.bulk_create(
            [Exposure(condition_id=c, item_key=i, count=recount.get((c, i), 0)) for c, i in sorted(wanted)]
        )
        rows = {(row.condition_id, row.item_key): row for row in built}
    return rows


def _exposure_add(rows: dict[tuple[int, str], Exposure], pairs: Counter, sign: int) -> None:
    """Add (sign=1) or take off (sign=-1) `pairs` from locked rows: one UPDATE per distinct amount."""
    by_amount: dict[int, list[int]] = {}
    for pair, n in pairs.items():
        if n and pair in rows:
            by_amount.setdefault(n, []).append(rows[pair].pk)
    for n, pks in by_amount.items():
        Exposure.objects.filter(pk__in=pks).update(count=F("count") + sign * n)


def _exposure_release(study: Study, participant_ids: list[int]) -> None:
    """Seats that ended before rating everything give their unrated pairs back (and their
    unanswered pages: a MUSHRA page its (condition, item) pairs, a pairwise page its pair)."""
    if study.test_type != Study.TestType.RATING:
        clips = PageClip.objects.filter(
            page__participant_id__in=participant_ids, page__is_practice=False, page__submitted_at__isnull=True
        )
        if study.test_type == Study.TestType.PAIRWISE:
            sides = _pair_sides(clips.values_list("page_id", "page__item_key", "condition_id", "slot"))
            if sides:
                rows = PairExposure.objects.select_for_update().filter(first__study=study).order_by("pk")
                _pair_exposure_add({(r.first_id, r.second_id, r.item_key): r for r in rows}, sides, -1)
            return
        released = Counter(clips.values_list("condition_id", "page__item_key"))
        if released:
            rows = Exposure.objects.select_for_update().filter(condition__study=study).order_by("pk")
            _exposure_add({(r.condition_id, r.item_key): r for r in rows}, released, -1)
        return
    released = Counter(
        Trial.objects.filter(
            participant_id__in=participant_ids, is_practice=False, rating__isnull=True
        ).values_list("condition_id", "stimulus__item_key")
    )
    if released:
        rows = Exposure.objects.select_for_update().filter(condition__study=study).order_by("pk")
        _exposure_add({(r.condition_id, r.item_key): r for r in rows}, released, -1)


def _check_open(study: Study) -> None:
    if study.status != Study.Status.OPEN:
        raise StudyNotOpen(
            "This study is not open at the moment." if study.status == "draft" else "This study has closed."
        )


_ELSEWHERE = {
    Participant.Status.COMPLETED: "This Prolific ID has already completed this study. Thank you!",
    Participant.Status.SCREENED_OUT: "This Prolific ID has already taken this study's headphone check, "
    "which can be taken only once. Thank you for your time!",
    Participant.Status.ABANDONED: "This Prolific ID's session expired after a long pause. Thank you for your time!",
    None: "This Prolific ID has already started this study in another browser. Please continue in the "
    "browser where you started; if you cannot, contact the researcher through Prolific.",
}


def participant_join(
    *,
    study: Study,
    consent_version: str,
    questionnaire: dict | None = None,
    prolific_pid: str = "",
    study_id: str = "",
    session_id: str = "",
    language: str = "en",
) -> Participant:
    """A volunteer consents: create their session and its balanced G x M trials.

    Locking: the study row is locked (`select_for_update`) for the whole transaction, so joins
    of one study are serialised: each join reads the exposure counts every earlier join left
    (studies.models.Exposure, updated in the same transaction as the trials), which is what keeps
    the (condition, item) counts within one of each other when many volunteers arrive at once.
    The counts are kept, not recounted, so the thousandth join costs what the first did.
    On SQLite the IMMEDIATE transaction mode serialises writers.

    A session belongs to the browser that joined: resuming happens there, through its session
    cookie, and never reaches this service. A PROLIFIC_PID that already joined is therefore refused
    (ParticipantElsewhere), whatever became of its session, so another browser never receives it,
    and a screened-out volunteer cannot take the check again.

    Raises:
        StudyError: a Prolific ID, study or session id that is not a valid id.
        StudyNotOpen: the study is a draft or closed.
        ParticipantElsewhere: the Prolific ID already joined this study.
        ConsentOutdated: the consent text changed since the page was shown.
        StudyFull: the target number of seats (`seats_taken`) is reached.
    """
    if questionnaire is not None and not isinstance(questionnaire, dict):
        raise StudyError("The questionnaire must be a set of answers.")
    prolific_pid = prolific_id_clean(prolific_pid)
    study_id = prolific_id_clean(study_id)
    session_id = prolific_id_clean(session_id)
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        _check_open(study)
        if prolific_pid:
            existing = one_row(Participant.objects.filter(study=study, prolific_pid=prolific_pid))
            if existing is not None:
                raise ParticipantElsewhere(_ELSEWHERE.get(existing.status, _ELSEWHERE[None]))
        if consent_version != study.consent_version:
            raise ConsentOutdated("The consent text has changed; please read it again and consent.")
        now = timezone.now()
        release_abandoned_seats(study=study, now=now)
        if study.target_participants and seats_taken(study=study, now=now) >= study.target_participants:
            raise StudyFull("This study has all the participants it needs. Thank you for your interest!")

        conditions = list(study.conditions.values_list("pk", flat=True))
        stimuli = {
            (condition_id, item): stimulus_id
            for condition_id, item, stimulus_id in Stimulus.objects.filter(
                stimulus_set__conditions__study=study
            ).values_list("stimulus_set__conditions__id", "item_key", "pk")
        }
        items = sorted(
            set.intersection(*({i for c, i in stimuli if c == condition} for condition in conditions))
            if conditions
            else set()
        )
        ordinal = Participant.objects.filter(study=study).count()
        seed = design.participant_seed(study.seed, ordinal)
        if study.test_type != Study.TestType.RATING:
            plan = _page_plan(study, conditions, items, seed)
        else:
            exposure = _exposure_rows(study, conditions, items)
            try:
                assignment = design.assign(
                    conditions=conditions,
                    items=items,
                    groups=study.groups,
                    clips_per_group=study.clips_per_group,
                    seed=seed,
                    exposure={pair: row.count for pair, row in exposure.items()},
                    practice=study.practice,
                )
            except design.DesignError as error:
                raise StudyNotReady(str(error)) from error

        screening = study.headphone_check or study.volume_check
        participant = Participant(
            study=study,
            prolific_pid=prolific_pid[:64],
            prolific_study_id=study_id[:64],
            prolific_session_id=session_id[:64],
            consent_version=consent_version,
            consented_at=now,
            questionnaire=questionnaire or {},
            status=Participant.Status.CONSENTED if screening else Participant.Status.RATING,
            language=language[:10] or "en",
            assignment_seed=seed,
            last_seen_at=now,
        )
        # The fields only: the token is random and the database enforces the unique constraints,
        # so their checks would be two more queries on every join for nothing.
        _full_clean(participant, exclude=["study"], validate_unique=False, validate_constraints=False)
        participant.save()
        if study.test_type != Study.TestType.RATING:
            _pages_create(participant, plan, stimuli)
            return participant
        trials = [
            Trial(
                participant=participant,
                group=g,
                position=p,
                stimulus_id=stimuli[(slot.condition, slot.item)],
                condition_id=slot.condition,
            )
            for g, group in enumerate(assignment.groups, start=1)
            for p, slot in enumerate(group, start=1)
        ]
        if assignment.practice is not None:
            slot = assignment.practice
            trials.append(
                Trial(
                    participant=participant,
                    group=0,
                    position=0,
                    is_practice=True,
                    stimulus_id=stimuli[(slot.condition, slot.item)],
                    condition_id=slot.condition,
                )
            )
        Trial.objects.bulk_create(trials)
        _exposure_add(exposure, Counter((slot.condition, slot.item) for slot in assignment.slots), 1)
        return participant


def _page_plan(study: Study, conditions: list[int], items: list[str], seed: int) -> tuple[Any, Any]:
    """A MUSHRA or pairwise volunteer's pages, from the locked exposure rows: (assignment, rows)."""
    options = study.design_options
    try:
        if study.test_type == Study.TestType.MUSHRA:
            rows = _exposure_rows(study, conditions, items)
            per_item = Counter()
            for (_, item), row in rows.items():
                per_item[item] = max(per_item[item], row.count)
            assignment = design.assign_mushra(
                conditions=conditions,
                items=items,
                items_per_volunteer=options["items_per_volunteer"],
                seed=seed,
                exposure=per_item,
                practice=study.practice,
            )
        else:
            rows = _pair_exposure_rows(study, conditions, items)
            assignment = design.assign_pairwise(
                conditions=sorted(conditions),
                items=items,
                pairs_per_volunteer=options["pairs_per_volunteer"],
                seed=seed,
                exposure={key: (row.first_left, row.first_right) for key, row in rows.items()},
                practice=study.practice,
            )
    except (design.DesignError, KeyError) as error:
        raise StudyNotReady(f"The study's design cannot be assigned: {error}") from error
    return assignment, rows


def _pages_create(participant: Participant, plan: tuple[Any, Any], stimuli: dict) -> None:
    """Save the planned pages and their clips, and count them in the exposure rows."""
    assignment, rows = plan
    planned = [(k, False, slots) for k, slots in enumerate(assignment.pages, start=1)]
    if assignment.practice is not None:
        planned.append((0, True, assignment.practice))
    pages = Page.objects.bulk_create(
        [
            Page(participant=participant, position=position, is_practice=practice, item_key=slots.item)
            for position, practice, slots in planned
        ]
    )
    PageClip.objects.bulk_create(
        [
            PageClip(
                page=page,
                slot=slot,
                condition_id=condition,
                stimulus_id=stimuli[(condition, slots.item)],
            )
            for page, (_, _, slots) in zip(pages, planned, strict=True)
            for slot, condition in enumerate(slots.conditions)
        ]
    )
    if participant.study.test_type == Study.TestType.MUSHRA:
        held = Counter((c, slots.item) for slots in assignment.pages for c in slots.conditions)
        _exposure_add(rows, held, 1)
    else:
        sides = Counter(_pair_side(*slots.conditions, slots.item) for slots in assignment.pages)
        _pair_exposure_add(rows, sides, 1)


# Compiled once (studies/prepared.py): every event and rating locks the participant this way.
_LOCKED_PARTICIPANT = PreparedQuery(
    lambda pk: (
        Participant.objects.select_for_update(of=("self",))
        .annotate(study_status_now=F("study__status"))
        .filter(pk=pk)
        .order_by()
    ),
    pk=-(2**62) + 11,
)


def _lock_participant(participant: Participant) -> Participant:
    """Reload the participant with its row locked: one volunteer's writes queue up, in one order
    (participant, then trial) everywhere, so they can never deadlock."""
    # of=("self",): lock the participant only; a plain FOR UPDATE would lock the joined study row
    # too and queue every volunteer's writes (and the joins) behind each other.
    queryset = Participant.objects.select_for_update(of=("self",))
    study = participant._state.fields_cache.get("study")
    if study is None or study.pk != participant.study_id:
        return queryset.select_related("study").get(pk=participant.pk)
    # The study the volunteer's request already loaded (session_participant_in), with its status
    # read again here: only the status changes under an open study's volunteers (closing it), and
    # reloading its ~30 columns was a fifth of every event's and rating's CPU.
    rows = _LOCKED_PARTICIPANT(pk=participant.pk)
    if not rows:
        raise Participant.DoesNotExist("Participant matching query does not exist.")
    locked = rows[0]
    study.status = locked.study_status_now
    locked.study = study
    return locked


def _check_live(participant: Participant) -> None:
    """Refuse if the study closed or the session ended."""
    _check_open(participant.study)
    if participant.status == Participant.Status.SCREENED_OUT:
        raise ParticipantInactive("This session has ended after the headphone check. Thank you!")
    if participant.status == Participant.Status.ABANDONED:
        raise ParticipantInactive("This session expired after a long pause. Thank you for your time!")
    if participant.status == Participant.Status.COMPLETED:
        raise ParticipantInactive("You have already completed this study. Thank you!")


def _live_participant(participant: Participant) -> Participant:
    participant = _lock_participant(participant)
    _check_live(participant)
    return participant


HEADPHONE_PASS_MIN = 4  # of 6 Huggins-pitch trials (Milne et al. 2021)


@transaction.atomic
def participant_record_headphone_check(*, participant: Participant, correct: int, total: int) -> bool:
    """Record the headphone screening; a failure ends the session (status screened_out).

    Passing needs at least 4 of 6 correct (Milne et al. 2021), scaled as 2/3 for another total.
    Locks the participant row. Returns whether the volunteer passed.
    """
    participant = _live_participant(participant)
    if not (
        isinstance(correct, int) and isinstance(total, int) and 0 <= correct <= total and 0 < total <= 50
    ):
        raise StudyError("The headphone check result is not valid.")
    passed = correct * 6 >= HEADPHONE_PASS_MIN * total
    participant.headphone_correct = correct
    participant.headphone_total = total
    participant.headphone_passed = passed
    participant.status = Participant.Status.RATING if passed else Participant.Status.SCREENED_OUT
    participant.last_seen_at = timezone.now()
    participant.save(
        update_fields=["headphone_correct", "headphone_total", "headphone_passed", "status", "last_seen_at"]
    )
    if not passed:
        _exposure_release(participant.study, [participant.pk])
    return passed


@transaction.atomic
def participant_record_volume_check(*, participant: Participant) -> Participant:
    """The volunteer set a comfortable volume. Locks the participant row. Idempotent."""
    participant = _live_participant(participant)
    participant.volume_checked = True
    if participant.status == Participant.Status.CONSENTED:
        participant.status = (
            Participant.Status.SCREENING if participant.study.headphone_check else Participant.Status.RATING
        )
    participant.last_seen_at = timezone.now()
    participant.save(update_fields=["volume_checked", "status", "last_seen_at"])
    return participant


def _trial_queryset(lock: bool, with_rating: bool, with_duration: bool):
    queryset = Trial.objects.select_related("rating") if with_rating else Trial.objects.all()
    if with_duration:
        # The clip's length as trial.clip_duration_s: one column, not the stimulus's ~15.
        queryset = queryset.annotate(clip_duration_s=F("stimulus__duration_s"))
    if lock:
        # The trial row only: locking the joined stimulus would queue everyone hearing that clip.
        queryset = queryset.select_for_update(of=("self",))
    return queryset


# (lock, with_rating, with_duration) -> the trial read, compiled once (studies/prepared.py).
_TRIAL_QUERIES: dict[tuple[bool, bool, bool], PreparedQuery] = {}


def _trial_of(
    participant: Participant,
    public_id: str,
    *,
    lock: bool,
    with_rating: bool = False,
    with_duration: bool = False,
) -> Trial:
    query = _TRIAL_QUERIES.get((lock, with_rating, with_duration))
    if query is None:
        query = _TRIAL_QUERIES[(lock, with_rating, with_duration)] = PreparedQuery(
            lambda participant_id, public_id: (
                _trial_queryset(lock, with_rating, with_duration)
                .filter(participant_id=participant_id, public_id=public_id)
                .order_by()[:1]
            ),
            participant_id=-(2**62) + 13,
            public_id="\x00public_id\x00",
        )
    # Public ids are unique: one row, no ORDER BY (see prepared.one_row).
    rows = query(participant_id=participant.pk, public_id=str(public_id))
    trial = rows[0] if rows else None
    if trial is not None:
        trial._state.fields_cache["participant"] = participant
    if trial is None:
        # Same answer for a wrong id and another volunteer's id: nothing to learn by guessing.
        raise TrialNotFound("This clip is not part of your session.")
    return trial


def _apply_player_event(played: Trial | PageClip, event: str, now) -> None:
    """A trial's or a page clip's player event: "play" counts a play and starts the clock at the
    first one; "ended" marks the end, refused before any play."""
    if event == "play":
        played.plays += 1
        played.first_played_at = played.first_played_at or now
    else:
        if played.first_played_at is None:
            raise StudyError("The clip has not been played yet.")
        played.ended_at = now


@transaction.atomic
def trial_record_play(
    *, participant: Participant, public_id: str, event: str, position_s: float | None = None
) -> Trial:
    """Record that the volunteer's player started ("play") or reached the end ("ended").

    The first "play" starts the clock that rating_submit checks; every "play" counts one play.
    Locks the trial row so concurrent events never lose a count.
    """
    if event not in ("play", "ended"):
        raise StudyError("Unknown player event.")
    participant = _live_participant(participant)
    trial = _trial_of(participant, public_id, lock=True)
    now = timezone.now()
    _apply_player_event(trial, event, now)
    if len(trial.play_events) < MAX_PLAY_EVENTS:
        entry: dict[str, Any] = {"event": event, "at": now.isoformat()}
        if position_s is not None:
            entry["position_s"] = round(float(position_s), 3)
        trial.play_events = [*trial.play_events, entry]
    trial.save(update_fields=["plays", "first_played_at", "ended_at", "play_events"])
    _touch(participant, now)
    return trial


# last_seen_at only decides when a seat is abandoned (the study's seat timeout, minutes), so a
# request within this much of the last write skips the UPDATE (a tenth of the timeout, if less):
# most events and ratings then write only their own trial's row.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


def _touch(participant: Participant, now) -> None:
    """Record that the (locked) participant was active, at most once per LAST_SEEN_RESOLUTION."""
    resolution = min(LAST_SEEN_RESOLUTION, timedelta(minutes=participant.study.seat_timeout_minutes) / 10)
    if now - participant.last_seen_at >= resolution:
        participant.last_seen_at = now
        participant.save(update_fields=["last_seen_at"])


def _scale_value(name: str, value) -> int:
    if value is None or value == "":
        raise RatingInvalid("Please rate all three scales before continuing.")
    if isinstance(value, bool):
        raise RatingInvalid(f"{name.capitalize()} must be a whole number from 1 to 5.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RatingInvalid(f"{name.capitalize()} must be a whole number from 1 to 5.") from None
    if number != value and str(number) != str(value).strip():
        raise RatingInvalid(f"{name.capitalize()} must be a whole number from 1 to 5.")
    if not RATING_MIN <= number <= RATING_MAX:
        raise RatingInvalid(f"{name.capitalize()} must be from 1 to 5.")
    return number


def rating_submit(
    *, participant: Participant, public_id: str, naturalness: int, creativity: int, musicality: int
) -> Rating:
    """Rate one trial. Idempotent: a second submission returns the first rating unchanged.

    Locking: the participant and then the trial row are locked (`select_for_update`) before
    looking for an existing rating, so concurrent submissions of one trial queue up and all but
    the first return its rating; the one-to-one constraint backs this up where locks are weaker.

    Raises:
        TrialNotFound: the trial belongs to another session or does not exist.
        StudyNotOpen / ParticipantInactive: the study closed or the session ended.
        RatingInvalid: a scale is missing or outside 1-5.
        ListenIncomplete: the clip was not played, or not long enough ago to have been heard.
    """
    try:
        with transaction.atomic():
            return _rating_submit(participant, public_id, naturalness, creativity, musicality)
    except IntegrityError:
        existing = one_row(
            Rating.objects.filter(trial__participant=participant, trial__public_id=str(public_id))
        )
        if existing is None:
            raise
        return existing


def _rating_submit(participant, public_id, naturalness, creativity, musicality) -> Rating:
    participant = _lock_participant(participant)
    trial = _trial_of(participant, public_id, lock=True, with_rating=True, with_duration=True)
    existing = getattr(trial, "rating", None)
    if existing is not None:
        return existing
    _check_live(participant)
    values = {
        "naturalness": _scale_value("naturalness", naturalness),
        "creativity": _scale_value("creativity", creativity),
        "musicality": _scale_value("musicality", musicality),
    }
    if trial.first_played_at is None:
        raise ListenIncomplete("Please play the clip before rating it.")
    now = timezone.now()
    listened = (now - trial.first_played_at).total_seconds()
    if listened + LISTEN_TOLERANCE_S < trial.clip_duration_s:
        raise ListenIncomplete("Please listen to the whole clip before rating it.")
    rating = Rating(trial=trial, listen_time_s=round(listened, 3), plays=trial.plays, **values)
    # Field validators only: the 1-5 check constraints are the database's (three queries otherwise).
    rating.full_clean(exclude=["trial"], validate_unique=False, validate_constraints=False)
    rating.save()
    _touch(participant, now)
    return rating


# --- MUSHRA and pairwise pages ----------------------------------------------------------------


class PageNotFound(TrialNotFound):
    """No such page or clip in this volunteer's session (including another volunteer's)."""


class AnswerInvalid(StudyError):
    """A MUSHRA score or pairwise choice is missing or out of range."""


def _page_of(participant: Participant, public_id: str) -> Page:
    page = one_row(
        Page.objects.select_for_update(of=("self",)).filter(participant=participant, public_id=str(public_id))
    )
    if page is None:
        # Same answer for a wrong id and another volunteer's id: nothing to learn by guessing.
        raise PageNotFound("This page is not part of your session.")
    return page


@transaction.atomic
def page_clip_record_play(
    *, participant: Participant, public_id: str, event: str, position_s: float | None = None
) -> PageClip:
    """Record that one clip of a page started ("play") or reached its end ("ended").

    As trial_record_play: the first "play" starts the clip's clock, every "play" counts one play,
    and "ended" before any play is refused. Locks the participant, then the clip row.
    """
    if event not in ("play", "ended"):
        raise StudyError("Unknown player event.")
    participant = _live_participant(participant)
    clip = one_row(
        PageClip.objects.select_for_update(of=("self",)).filter(
            page__participant=participant, public_id=str(public_id)
        )
    )
    if clip is None:
        raise TrialNotFound("This clip is not part of your session.")
    now = timezone.now()
    _apply_player_event(clip, event, now)
    clip.save(update_fields=["plays", "first_played_at", "ended_at"])
    _touch(participant, now)
    return clip


def _check_heard(clips: list[PageClip], now) -> None:
    """Every clip reached its end, and enough time passed since its first play to hear it whole."""
    for clip in clips:
        if clip.first_played_at is None or clip.ended_at is None:
            raise ListenIncomplete("Please listen to every clip to its end before answering.")
        listened = (now - clip.first_played_at).total_seconds()
        if listened + LISTEN_TOLERANCE_S < clip.stimulus.duration_s:
            raise ListenIncomplete("Please listen to every clip to its end before answering.")


def _mushra_score(value) -> int:
    if value is None or value == "" or isinstance(value, bool):
        raise AnswerInvalid("Please score every clip on every scale before continuing.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AnswerInvalid("A score must be a whole number from 0 to 100.") from None
    if number != value and str(number) != str(value).strip():
        raise AnswerInvalid("A score must be a whole number from 0 to 100.")
    if not MUSHRA_MIN <= number <= MUSHRA_MAX:
        raise AnswerInvalid("A score must be a whole number from 0 to 100.")
    return number


def _answer_page(participant: Participant, public_id: str, test_type: str, answer) -> Page:
    """Lock the participant and the page; answer it with `answer(page, clips, now)` unless it was
    answered before (then return it unchanged)."""
    participant = _lock_participant(participant)
    page = _page_of(participant, public_id)
    if page.submitted_at is not None:
        return page
    _check_live(participant)
    if participant.study.test_type != test_type:
        raise StudyError("This page does not take this kind of answer.")
    clips = list(page.clips.select_related("stimulus").order_by("slot"))
    now = timezone.now()
    answer(page, clips, now)
    page.submitted_at = now
    page.save(update_fields=["submitted_at"])
    _touch(participant, now)
    return page


def mushra_submit(*, participant: Participant, public_id: str, scores: Any) -> Page:
    """Score every clip of a MUSHRA page on every scale. Idempotent: a repeat returns the page.

    Args:
        scores: {clip label ("A", "B", ...): {scale key: whole number 0-100}} for every clip of
            the page and every scale of the study.

    Locking: the participant and then the page row are locked before the page is checked for an
    earlier answer, so concurrent submissions queue and all but the first return the page; the
    unique (clip, scale) constraint backs this up.

    Raises:
        PageNotFound: the page belongs to another session or does not exist.
        StudyNotOpen / ParticipantInactive: the study closed or the session ended.
        AnswerInvalid: a clip or scale without a score, an unknown one, or a score outside 0-100.
        ListenIncomplete: a clip was not played to its end.
    """

    def answer(page, clips, now):
        keys = [scale["key"] for scale in page.participant.study.design_options["scales"]]
        labels = {clip.label: clip for clip in clips}
        if not isinstance(scores, dict) or set(scores) != set(labels):
            raise AnswerInvalid("Please score every clip on every scale before continuing.")
        values = {}
        for label, clip in labels.items():
            given = scores[label]
            if not isinstance(given, dict) or set(given) != set(keys):
                raise AnswerInvalid("Please score every clip on every scale before continuing.")
            values[clip] = {key: _mushra_score(given[key]) for key in keys}
        _check_heard(clips, now)
        MushraScore.objects.bulk_create(
            [
                MushraScore(page_clip=clip, scale=key, score=score)
                for clip, by_scale in values.items()
                for key, score in by_scale.items()
            ]
        )

    return _submit_once(participant, public_id, Study.TestType.MUSHRA, answer)


def pairwise_submit(*, participant: Participant, public_id: str, choices: Any) -> Page:
    """Answer every question of a pairwise page. Idempotent: a repeat returns the page.

    Args:
        choices: {question key: "A" (the left clip) or "B" (the right clip)} for every question.

    Locking as mushra_submit's; the unique (page, question) constraint backs it up.

    Raises:
        PageNotFound, StudyNotOpen, ParticipantInactive, ListenIncomplete: as mushra_submit.
        AnswerInvalid: a question without an answer, an unknown question, or neither A nor B.
    """

    def answer(page, clips, now):
        keys = [question["key"] for question in page.participant.study.design_options["questions"]]
        labels = {clip.label: clip for clip in clips}
        if not isinstance(choices, dict) or set(choices) != set(keys):
            raise AnswerInvalid("Please answer every question before continuing.")
        if not all(isinstance(choices[key], str) and choices[key] in labels for key in keys):
            raise AnswerInvalid("Please choose clip A or clip B.")
        _check_heard(clips, now)
        PairwiseChoice.objects.bulk_create(
            [PairwiseChoice(page=page, question=key, chosen=labels[choices[key]]) for key in keys]
        )

    return _submit_once(participant, public_id, Study.TestType.PAIRWISE, answer)


def _submit_once(participant: Participant, public_id: str, test_type: str, answer) -> Page:
    try:
        with transaction.atomic():
            return _answer_page(participant, public_id, test_type, answer)
    except IntegrityError:
        existing = one_row(
            Page.objects.filter(participant=participant, public_id=str(public_id), submitted_at__isnull=False)
        )
        if existing is None:
            raise
        return existing


@transaction.atomic
def participant_complete(*, participant: Participant) -> str:
    """Finish the session once every trial is rated; return the completion code. Idempotent.

    Locks the participant row.

    Raises:
        StudyError: some trials are still unrated.
    """
    locked = _lock_participant(participant)
    if locked.status == Participant.Status.COMPLETED:
        return locked.completion_code
    _check_live(locked)
    if locked.trials.filter(rating__isnull=True).exists():
        raise StudyError("Please rate every clip before finishing.")
    if locked.pages.filter(submitted_at__isnull=True).exists():
        raise StudyError("Please answer every page before finishing.")
    now = timezone.now()
    locked.status = Participant.Status.COMPLETED
    locked.completed_at = now
    locked.last_seen_at = now
    locked.completion_code = locked.study.completion_code
    locked.save(update_fields=["status", "completed_at", "last_seen_at", "completion_code"])
    return locked.completion_code
