"""The researcher's study form. `manage.py create_study` validates its options with the same form."""

from django import forms
from django.conf import settings

from generation.models import StimulusSet
from studies import services
from studies.models import DEFAULT_CONSENT_TEXT, DEFAULT_SCALE_DEFINITIONS, SCALES, Condition, Study

# The study's own texts, as form fields; each has a twin per other language (translation_field).
TEXT_FIELDS = {
    "title": "title",
    "description": "description",
    "consent_text": "consent_text",
    "instructions": "instructions",
    **{f"{scale}_definition": "scale_definitions" for scale in SCALES},
}


def translated_languages() -> list[tuple[str, str]]:
    """The languages whose texts the form asks for beside the study's own (the site's language)."""
    return [(code, name) for code, name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def translation_field(field: str, language: str) -> str:
    """The form field of `field` (a TEXT_FIELDS key) in `language`: consent_text_zh_hans."""
    return f"{field}_{language.replace('-', '_')}"


class StudyForm(forms.Form):
    slug = forms.SlugField(max_length=60, help_text="The volunteer link will be /s/<slug>/.")
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    consent_text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        initial=DEFAULT_CONSENT_TEXT,
        help_text="In English. The built-in text shown at first (or a blank field) is translated into every "
        "language already; a text of your own needs its version in each other offered language below.",
    )
    consent_version = forms.CharField(max_length=40, initial="1")
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    groups = forms.IntegerField(min_value=1, max_value=20, initial=3, help_text="G")
    clips_per_group = forms.IntegerField(
        min_value=1, max_value=20, initial=5, help_text="M (at most the number of conditions)"
    )
    naturalness_definition = forms.CharField(max_length=300, initial=DEFAULT_SCALE_DEFINITIONS["naturalness"])
    creativity_definition = forms.CharField(max_length=300, initial=DEFAULT_SCALE_DEFINITIONS["creativity"])
    musicality_definition = forms.CharField(max_length=300, initial=DEFAULT_SCALE_DEFINITIONS["musicality"])
    target_participants = forms.IntegerField(min_value=0, initial=30, help_text="0: no limit")
    completion_code = forms.CharField(max_length=40, required=False, help_text="Blank: a random code.")
    redirect_url = forms.URLField(
        required=False, assume_scheme="https", help_text="E.g. Prolific's completion URL."
    )
    languages = forms.MultipleChoiceField(
        choices=settings.LANGUAGES,
        initial=[code for code, _ in settings.LANGUAGES],
        widget=forms.CheckboxSelectMultiple,
    )
    headphone_check = forms.BooleanField(required=False, initial=True)
    volume_check = forms.BooleanField(required=False, initial=True)
    practice = forms.BooleanField(required=False, initial=True)
    seat_timeout_minutes = forms.IntegerField(min_value=1, initial=60)
    seed = forms.IntegerField(min_value=0, required=False, help_text="Blank: random.")
    test_type = forms.ChoiceField(
        choices=Study.TestType.choices,
        initial=Study.TestType.RATING,
        required=False,  # not given: the paper's rating design
        help_text="Rating is the paper's design (G x M clips, three 1-5 scales); MUSHRA puts every "
        "condition of an item on one page with a 0-100 slider each; pairwise asks which of two clips "
        "is better (docs/studies.md).",
    )
    design_options = forms.JSONField(
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": '{"reference": "real", "anchor": "anchor", "items_per_volunteer": 3}',
            }
        ),
        help_text="MUSHRA: reference and anchor (condition names; default the conditions with the roles "
        'reference and low anchor), scales [{"key": "quality", "label": "Basic audio quality"}], '
        'items_per_volunteer (3). Pairwise: questions [{"key": "preference", "text": "Which clip do you '
        'prefer?"}], pairs_per_volunteer (every pair once). Blank: the defaults. Groups and clips per '
        "group apply to the rating design only.",
    )
    design_translations = forms.JSONField(
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 2,
                "placeholder": '{"zh-hans": {"questions": {"preference": "您更喜欢哪个片段？"}}}',
            }
        ),
        help_text="MUSHRA scale labels and pairwise questions in other offered languages: {language: "
        '{"scale_labels" or "questions": {key: text}}}. A key not given shows the text above (the '
        "built-in scale and question are translated already).",
    )
    analysis_options = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": '{"min_panel_correlation": 0.6}'}),
        help_text="Optional JSON object overriding analysis settings, e.g. the screening thresholds "
        "min_rating_variance, min_panel_correlation, max_unfinished_fraction, "
        "require_headphone_check (docs/analysis.md). Blank: the defaults.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # One optional twin of every text per other language; blank shows the study's own text.
        for language, name in translated_languages():
            for field in TEXT_FIELDS:
                own = self.fields[field]
                self.fields[translation_field(field, language)] = forms.CharField(
                    label=f"{own.label} ({name})",
                    max_length=own.max_length,
                    widget=type(own.widget)(attrs=dict(own.widget.attrs)),
                    required=False,
                )

    def main_fields(self) -> list[forms.BoundField]:
        """Every field but the other languages' texts (those are in language_fieldsets)."""
        others = {translation_field(f, code) for code, _ in translated_languages() for f in TEXT_FIELDS}
        return [bound for bound in self if bound.name not in others]

    def language_fieldsets(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        """(language code, name, its text fields) per language beside the site's own."""
        return [
            (code, name, [self[translation_field(field, code)] for field in TEXT_FIELDS])
            for code, name in translated_languages()
        ]

    def translations(self) -> dict:
        """The other languages' texts as Study.translations (blank ones left out)."""
        translations = {}
        for code, _ in translated_languages():
            texts: dict = {}
            for field, text_name in TEXT_FIELDS.items():
                value = (self.cleaned_data.get(translation_field(field, code)) or "").strip()
                if not value:
                    continue
                if text_name == "scale_definitions":
                    texts.setdefault(text_name, {})[field.removesuffix("_definition")] = value
                else:
                    texts[text_name] = value
            if texts:
                translations[code] = texts
        for code, texts in (self.cleaned_data.get("design_translations") or {}).items():
            translations.setdefault(code, {}).update(texts)
        return translations

    def clean(self):
        data = super().clean()
        languages = data.get("languages")
        if not languages:
            return data
        try:
            translations = services.translations_clean(
                self.translations(),
                languages=languages,
                test_type=data.get("test_type") or Study.TestType.RATING,
                design_options=data.get("design_options"),
            )
        except services.StudyError as error:
            raise forms.ValidationError(error.messages) from error
        # A draft made here cannot be edited on these pages, so a missing translation of the
        # consent text is refused now rather than when the study is opened.
        draft = Study(
            languages=languages,
            consent_text=(data.get("consent_text") or "").strip() or DEFAULT_CONSENT_TEXT,
            translations=translations,
        )
        missing = services.consent_missing_languages(draft)
        if missing:
            message = services.consent_missing_message(missing)
            fields = [translation_field("consent_text", code) for code in missing]
            field = fields[0] if fields[0] in self.fields else "consent_text"
            self.add_error(field, message)
        return data

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        if Study.objects.filter(slug=slug).exists():
            raise forms.ValidationError("A study with this slug exists.")
        return slug

    def clean_analysis_options(self):
        try:
            return services.analysis_options_clean(self.cleaned_data["analysis_options"])
        except services.StudyError as error:
            raise forms.ValidationError(error.messages) from error

    def clean_test_type(self):
        return self.cleaned_data["test_type"] or Study.TestType.RATING

    def clean_design_translations(self):
        # Merged into translations() language by language; translations_clean checks the rest.
        texts = self.cleaned_data["design_translations"] or {}
        if not isinstance(texts, dict) or not all(isinstance(v, dict) for v in texts.values()):
            raise forms.ValidationError(
                'The design texts must be a JSON object: {"zh-hans": {"questions": {...}}}.'
            )
        return texts

    def clean_design_options(self):
        options = self.cleaned_data["design_options"]
        if options is not None and not isinstance(options, dict):
            raise forms.ValidationError("The design options must be a JSON object.")
        return options

    def service_options(self) -> dict:
        """The cleaned data as study_create's keyword arguments (conditions excluded)."""
        data = dict(self.cleaned_data)
        data["scale_definitions"] = {scale: data.pop(f"{scale}_definition") for scale in SCALES}
        data["translations"] = self.translations()
        data.pop("design_translations", None)
        for code, _ in translated_languages():
            for field in TEXT_FIELDS:
                data.pop(translation_field(field, code), None)
        return data


def role_for(stimulus_set: StimulusSet) -> str:
    """The condition role a set's source suggests."""
    return {
        StimulusSet.Source.REAL: Condition.Role.REFERENCE,
        StimulusSet.Source.LOW_ANCHOR: Condition.Role.LOW_ANCHOR,
    }.get(stimulus_set.source, Condition.Role.SYSTEM)


class ConditionForm(forms.Form):
    include = forms.BooleanField(required=False)
    stimulus_set = forms.ModelChoiceField(
        queryset=StimulusSet.objects.filter(status=StimulusSet.Status.READY), required=False
    )
    name = forms.SlugField(max_length=80, required=False, help_text="Internal, never shown to volunteers.")
    role = forms.ChoiceField(choices=Condition.Role.choices, initial=Condition.Role.SYSTEM)

    def clean(self):
        data = super().clean()
        if data.get("include") and not (data.get("stimulus_set") and data.get("name")):
            raise forms.ValidationError("An included condition needs a stimulus set and a name.")
        return data


class BaseConditionFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        names = [f.cleaned_data["name"] for f in self.forms if f.cleaned_data.get("include")]
        if not names:
            raise forms.ValidationError("Include at least one condition.")
        if len(set(names)) != len(names):
            raise forms.ValidationError("Two conditions have the same name.")

    def conditions(self) -> list[tuple[str, StimulusSet, str]]:
        return [
            (f.cleaned_data["name"], f.cleaned_data["stimulus_set"], f.cleaned_data["role"])
            for f in self.forms
            if f.cleaned_data.get("include")
        ]


ConditionFormSet = forms.formset_factory(ConditionForm, formset=BaseConditionFormSet, extra=0)


def condition_initial() -> list[dict]:
    """One row per ready stimulus set (newest version of each name first), suggested name and role."""
    rows = []
    for stimulus_set in StimulusSet.objects.filter(status=StimulusSet.Status.READY).order_by(
        "name", "-version"
    ):
        name = (
            stimulus_set.name if stimulus_set.version == 1 else f"{stimulus_set.name}-v{stimulus_set.version}"
        )
        rows.append(
            {"include": False, "stimulus_set": stimulus_set, "name": name, "role": role_for(stimulus_set)}
        )
    return rows
