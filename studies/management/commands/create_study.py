"""`python manage.py create_study`: the researcher form's options on the command line.

    manage.py create_study --slug pilot --title "Pilot" --owner researcher \\
        --condition proposed=imported-proposed:system --condition real=imported-real@2:reference \\
        --groups 3 --clips-per-group 5 --open

A condition is NAME=SET[@VERSION][:ROLE]; SET is a stimulus set name (its newest ready version
unless @VERSION is given) or its numeric id; ROLE is system (default), reference or low_anchor.
`--analysis-option KEY=VALUE` (repeatable) sets one of the study's analysis settings, e.g.
`--analysis-option min_panel_correlation=0.6`; VALUE is read as JSON (0.6, 3, true).

`--test-type mushra|pairwise` chooses another design than the paper's ratings (docs/studies.md):

    manage.py create_study ... --test-type mushra --mushra-reference real --mushra-anchor anchor \\
        --mushra-scale quality="Basic audio quality" --items-per-volunteer 3
    manage.py create_study ... --test-type pairwise --question preference="Which clip do you prefer?" \\
        --pairs-per-volunteer 10

A study's texts in each offered language come with `--text LANGUAGE:TEXT=VALUE` (repeatable),
TEXT one of title, description, consent_text, instructions, naturalness_definition,
creativity_definition, musicality_definition; VALUE is the text, or @PATH for a UTF-8 file's:

    --text zh-hans:title="纪录片背景音乐" --text zh-hans:consent_text=@consent.zh-hans.txt

A MUSHRA study's scale labels and a pairwise study's questions are given per language as
`--text LANGUAGE:scale_label.KEY=VALUE` and `--text LANGUAGE:question.KEY=VALUE`, KEY one of the
study's scale or question keys (the site's language: --mushra-scale and --question):

    --text zh-hans:question.preference="你更喜欢哪一段？" --text zh-hans:scale_label.quality="基本音质"

`--text en:...` sets the study's own (English) text, like --consent-text. A study offering a
language without its consent text is refused, as in the form (the built-in consent text, used
when none is given, is translated already).
"""

import json
import re
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from generation.models import StimulusSet
from studies import services
from studies.forms import TEXT_FIELDS, StudyForm, translation_field
from studies.models import DEFAULT_SCALE_DEFINITIONS, Condition

TEXT_RE = re.compile(r"^(?P<language>[-\w]+):(?P<field>\w+)(\.(?P<key>\w+))?=(?P<value>.*)$", re.DOTALL)
# --text LANGUAGE:PREFIX.KEY=VALUE: a design text (Study.translations[LANGUAGE][name][KEY]).
DESIGN_TEXT_PREFIXES = {"scale_label": "scale_labels", "question": "questions"}
CONDITION_RE = re.compile(r"^(?P<name>[-\w]+)=(?P<set>[-\w]+)(@(?P<version>\d+))?(:(?P<role>\w+))?$")


def parse_condition(text: str) -> tuple[str, StimulusSet, str]:
    match = CONDITION_RE.match(text.strip())
    if not match:
        raise CommandError(f"--condition {text!r}: expected NAME=SET[@VERSION][:ROLE]")
    role = match["role"] or Condition.Role.SYSTEM
    if role not in Condition.Role.values:
        raise CommandError(f"--condition {text!r}: role must be one of {', '.join(Condition.Role.values)}")
    sets = StimulusSet.objects.filter(name=match["set"])
    if match["set"].isdigit() and not sets.exists():
        sets = StimulusSet.objects.filter(pk=int(match["set"]))
    if match["version"]:
        sets = sets.filter(version=int(match["version"]))
    else:
        sets = sets.filter(status=StimulusSet.Status.READY)
    stimulus_set = sets.order_by("-version").first()
    if stimulus_set is None:
        raise CommandError(f"--condition {text!r}: no such (ready) stimulus set")
    return match["name"], stimulus_set, role


def parse_analysis_options(texts: list[str]) -> dict:
    """KEY=VALUE pairs as a dict; VALUE is JSON where it parses (numbers, true/false), else the text
    itself, so that a wrong type reaches the validation and is named there."""
    options = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--analysis-option {text!r}: expected KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def _key_texts(texts: list[str], *, option: str, text_field: str) -> list[dict[str, str]]:
    entries = []
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--{option} {text!r}: expected KEY=TEXT")
        entries.append({"key": key.strip(), text_field: value})
    return entries


DESIGN_FLAGS = {
    "mushra": ["mushra_reference", "mushra_anchor", "mushra_scale", "items_per_volunteer"],
    "pairwise": ["question", "pairs_per_volunteer"],
}


def parse_design_options(o: dict) -> dict:
    """The --test-type's design options from its flags; a flag of another test type is refused."""
    for test_type, flags in DESIGN_FLAGS.items():
        given = [flag for flag in flags if o.get(flag) not in (None, [])]
        if given and o["test_type"] != test_type:
            names = ", ".join("--" + flag.replace("_", "-") for flag in given)
            raise CommandError(f"{names}: only for --test-type {test_type}.")
    options: dict = {}
    if o.get("mushra_reference") is not None:
        options["reference"] = o["mushra_reference"]
    if o.get("mushra_anchor") is not None:
        options["anchor"] = o["mushra_anchor"]
    if o.get("mushra_scale"):
        options["scales"] = _key_texts(o["mushra_scale"], option="mushra-scale", text_field="label")
    if o.get("items_per_volunteer") is not None:
        options["items_per_volunteer"] = o["items_per_volunteer"]
    if o.get("question"):
        options["questions"] = _key_texts(o["question"], option="question", text_field="text")
    if o.get("pairs_per_volunteer") is not None:
        options["pairs_per_volunteer"] = o["pairs_per_volunteer"]
    return options


def parse_texts(texts: list[str]) -> tuple[dict[str, str], dict[str, dict[str, dict[str, str]]]]:
    """--text LANGUAGE:TEXT=VALUE options as the StudyForm's fields (consent_text_zh_hans=...), and
    the LANGUAGE:scale_label.KEY=VALUE and LANGUAGE:question.KEY=VALUE ones as design translations
    ({"zh-hans": {"questions": {"preference": ...}}}, the form's design_translations)."""
    languages = [code for code, _ in settings.LANGUAGES]
    known = [*TEXT_FIELDS, *(f"{prefix}.KEY" for prefix in DESIGN_TEXT_PREFIXES)]
    fields: dict[str, str] = {}
    design_texts: dict[str, dict[str, dict[str, str]]] = {}
    for text in texts:
        match = TEXT_RE.match(text)
        if not match:
            raise CommandError(f"--text {text[:60]!r}: expected LANGUAGE:TEXT=VALUE or LANGUAGE:TEXT=@FILE")
        language, field, key, value = match["language"], match["field"], match["key"], match["value"]
        given = f"{field}.{key}" if key else field
        if language not in languages:
            raise CommandError(
                f"--text {language}:{given}: unknown language; the languages are {', '.join(languages)}"
            )
        if field not in DESIGN_TEXT_PREFIXES if key else field not in TEXT_FIELDS:
            raise CommandError(f"--text {language}:{given}: unknown text; the texts are {', '.join(known)}")
        if value.startswith("@"):
            try:
                value = Path(value[1:]).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise CommandError(
                    f"--text {language}:{given}: cannot read {value[1:]!r}: {error}"
                ) from error
        if key:
            if language == settings.LANGUAGE_CODE:
                flag = "--mushra-scale" if field == "scale_label" else "--question"
                raise CommandError(f"--text {language}:{given}: the site's own text is given with {flag}")
            design_texts.setdefault(language, {}).setdefault(DESIGN_TEXT_PREFIXES[field], {})[key] = value
            continue
        fields[field if language == settings.LANGUAGE_CODE else translation_field(field, language)] = value
    return fields, design_texts


def design_summary(study) -> str:
    options = study.design_options
    if study.test_type == "mushra":
        return (
            f"MUSHRA, {options['items_per_volunteer']} pages per volunteer (reference {options['reference']})"
        )
    if study.test_type == "pairwise":
        return f"pairwise, {options['pairs_per_volunteer']} pairs per volunteer"
    return f"{study.groups} x {study.clips_per_group} clips"


class Command(BaseCommand):
    help = "Create a study (a draft unless --open), with the same options as the researcher form."

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--title", required=True)
        parser.add_argument("--owner", required=True, help="username of the owning researcher")
        parser.add_argument(
            "--condition", action="append", default=[], metavar="NAME=SET[@VERSION][:ROLE]", required=True
        )
        parser.add_argument("--groups", type=int, default=3)
        parser.add_argument("--clips-per-group", type=int, default=5)
        parser.add_argument("--description", default="")
        parser.add_argument("--consent-text", default="")
        parser.add_argument("--consent-version", default="1")
        parser.add_argument("--instructions", default="")
        for scale, definition in DEFAULT_SCALE_DEFINITIONS.items():
            parser.add_argument(f"--{scale}-definition", default=definition)
        parser.add_argument("--target-participants", type=int, default=30, help="0: no limit")
        parser.add_argument("--completion-code", default="", help="blank: a random code")
        parser.add_argument("--redirect-url", default="")
        parser.add_argument("--languages", default="en,zh-hans", help="comma-separated")
        parser.add_argument("--no-headphone-check", action="store_true")
        parser.add_argument("--no-volume-check", action="store_true")
        parser.add_argument("--no-practice", action="store_true")
        parser.add_argument("--seat-timeout-minutes", type=int, default=60)
        parser.add_argument("--seed", type=int, default=None, help="blank: random")
        parser.add_argument(
            "--analysis-option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="an analysis setting of this study, e.g. min_panel_correlation=0.6 (repeatable)",
        )
        parser.add_argument(
            "--text",
            action="append",
            default=[],
            metavar="LANGUAGE:TEXT=VALUE",
            help="a text in one language, e.g. zh-hans:consent_text=@consent.zh-hans.txt (@FILE: the "
            "file's text); TEXT: " + ", ".join(TEXT_FIELDS) + ", scale_label.KEY (MUSHRA), question.KEY "
            "(pairwise) (repeatable)",
        )
        parser.add_argument(
            "--test-type",
            default="rating",
            choices=["rating", "mushra", "pairwise"],
            help="rating: the paper's design (default); mushra: every condition of an item on one page, "
            "0-100; pairwise: which of two clips is better",
        )
        parser.add_argument(
            "--mushra-reference", help="the hidden reference (default: the reference condition)"
        )
        parser.add_argument(
            "--mushra-anchor", help="the low anchor (default: the low_anchor condition, if any)"
        )
        parser.add_argument(
            "--mushra-scale",
            action="append",
            default=[],
            metavar="KEY=LABEL",
            help="a MUSHRA scale, e.g. quality='Basic audio quality' (repeatable; default that one)",
        )
        parser.add_argument("--items-per-volunteer", type=int, help="MUSHRA pages per volunteer (default 3)")
        parser.add_argument(
            "--question",
            action="append",
            default=[],
            metavar="KEY=TEXT",
            help="a pairwise question, e.g. preference='Which clip do you prefer?' (repeatable; default that one)",
        )
        parser.add_argument(
            "--pairs-per-volunteer", type=int, help="pairwise pages per volunteer (default: every pair)"
        )
        parser.add_argument("--open", action="store_true", help="open the study to volunteers at once")

    def handle(self, *args, **o):
        owner = get_user_model().objects.filter(username=o["owner"]).first()
        if owner is None:
            raise CommandError(f"No user named {o['owner']!r}.")
        conditions = [parse_condition(text) for text in o["condition"]]
        analysis_options = parse_analysis_options(o["analysis_option"])
        data = {
            "slug": o["slug"],
            "title": o["title"],
            "description": o["description"],
            "consent_text": o["consent_text"],
            "consent_version": o["consent_version"],
            "instructions": o["instructions"],
            "groups": o["groups"],
            "clips_per_group": o["clips_per_group"],
            "target_participants": o["target_participants"],
            "completion_code": o["completion_code"],
            "redirect_url": o["redirect_url"],
            "languages": [code.strip() for code in o["languages"].split(",") if code.strip()],
            "headphone_check": not o["no_headphone_check"],
            "volume_check": not o["no_volume_check"],
            "practice": not o["no_practice"],
            "seat_timeout_minutes": o["seat_timeout_minutes"],
            "seed": o["seed"],
            "analysis_options": json.dumps(analysis_options) if analysis_options else None,
        }
        for scale in DEFAULT_SCALE_DEFINITIONS:
            data[f"{scale}_definition"] = o[f"{scale}_definition"]
        text_fields, design_texts = parse_texts(o["text"])
        data |= text_fields
        if design_texts:
            data["design_translations"] = json.dumps(design_texts)
        data["test_type"] = o["test_type"]
        design_options = parse_design_options(o)
        if design_options:
            data["design_options"] = json.dumps(design_options)
        # The form's own validation, so the command and the page accept exactly the same input.
        form = StudyForm({k: v for k, v in data.items() if v is not None and v is not False})
        if not form.is_valid():
            # A text of another language is named as it was given: zh-hans:consent_text.
            given_as = {
                translation_field(field, code): f"{code}:{field}"
                for code, _ in settings.LANGUAGES
                for field in TEXT_FIELDS
            }
            errors = "; ".join(
                f"{given_as.get(field, field)}: {' '.join(msgs)}" for field, msgs in form.errors.items()
            )
            raise CommandError(f"Invalid options: {errors}")
        try:
            with transaction.atomic():
                study = services.study_create(owner=owner, conditions=conditions, **form.service_options())
                if o["open"]:
                    study = services.study_open(study=study)
        except services.StudyError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Study {study.slug} ({study.get_status_display().lower()}): {len(conditions)} conditions, "
                f"{design_summary(study)}, completion code {study.completion_code}. "
                f"Volunteer link: /s/{study.slug}/"
            )
        )
