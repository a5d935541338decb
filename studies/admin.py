from django import forms
from django.contrib import admin

from studies import services
from studies.models import (
    Condition,
    MushraScore,
    Page,
    PageClip,
    PairwiseChoice,
    Participant,
    Rating,
    Study,
    Trial,
)


class ConditionInline(admin.TabularInline):
    model = Condition
    extra = 0
    raw_id_fields = ["stimulus_set"]


class StudyAdminForm(forms.ModelForm):
    # As in the researcher form: Django 6 will assume https, so say so now (and skip its warning).
    redirect_url = forms.URLField(
        required=False, assume_scheme="https", help_text=Study._meta.get_field("redirect_url").help_text
    )

    class Meta:
        model = Study
        fields = "__all__"  # noqa: DJ007 - the ModelAdmin decides what is shown

    def clean_analysis_options(self):
        # The admin saves without the services, so it checks the options with the same function.
        try:
            return services.analysis_options_clean(self.cleaned_data["analysis_options"])
        except services.StudyError as error:
            raise forms.ValidationError(error.messages) from error

    def clean_design_options(self):
        # The services' check, against the conditions saved so far; study_open checks again against
        # the conditions as they are then (the inline may change them in the same save).
        options = self.cleaned_data["design_options"]
        test_type = self.cleaned_data.get("test_type")
        if test_type is None:
            return options
        conditions = list(self.instance.conditions.values_list("name", "role")) if self.instance.pk else []
        if not conditions:
            # A new study's conditions are saved after it: only the test type's keys are known here.
            if options and not isinstance(options, dict):
                raise forms.ValidationError("The design options must be a JSON object.")
            unknown = sorted(set(options or {}) - services.DESIGN_OPTION_KEYS[test_type])
            if unknown:
                raise forms.ValidationError(f"Unknown {test_type} design option(s): {', '.join(unknown)}.")
            return options or {}
        try:
            cleaned = services.design_options_clean(
                test_type=test_type, options=options, conditions=conditions
            )
        except services.StudyError as error:
            raise forms.ValidationError(error.messages) from error
        changed = (test_type, cleaned) != (self.instance.test_type, self.instance.design_options)
        if changed and self.instance.participants.exists():
            # Volunteers already hold pages (or trials) of the design they joined, and answer them
            # against its scales and questions.
            raise forms.ValidationError(
                "The test type and design options cannot change once volunteers have joined; "
                "create a new study instead."
            )
        return cleaned

    def clean(self):
        # The admin saves without the services: the translations get the services' checks, and an
        # open study may not lose an offered language's consent text (study_open would refuse it).
        data = super().clean()
        if "languages" not in data or "translations" not in data:
            return data
        try:
            data["translations"] = services.translations_clean(
                data["translations"],
                languages=data["languages"],
                test_type=data.get("test_type") or Study.TestType.RATING,
                design_options=data.get("design_options"),
            )
        except services.StudyError as error:
            self.add_error("translations", error.messages)
            return data
        study = Study(
            languages=data["languages"],
            consent_text=data.get("consent_text", ""),
            translations=data["translations"],
        )
        missing = services.consent_missing_languages(study)
        if missing and data.get("status") == Study.Status.OPEN:
            self.add_error("translations", services.consent_missing_message(missing))
        return data


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    form = StudyAdminForm
    list_display = [
        "slug",
        "title",
        "status",
        "test_type",
        "owner",
        "groups",
        "clips_per_group",
        "created_at",
    ]
    list_filter = ["status", "test_type"]
    search_fields = ["slug", "title"]
    readonly_fields = ["created_at", "opened_at", "closed_at"]
    inlines = [ConditionInline]


@admin.register(Condition)
class ConditionAdmin(admin.ModelAdmin):
    list_display = ["name", "study", "role", "stimulus_set"]
    list_filter = ["role", "study"]


class TrialInline(admin.TabularInline):
    model = Trial
    extra = 0
    fields = ["group", "position", "is_practice", "condition", "stimulus", "plays", "first_played_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["pk", "study", "status", "headphone_passed", "language", "created_at", "completed_at"]
    list_filter = ["study", "status", "headphone_passed", "language"]
    search_fields = ["prolific_pid", "prolific_session_id"]
    # The token is a volunteer's credential: shown to no one, not even in the admin.
    exclude = ["token"]
    readonly_fields = ["created_at", "consented_at", "assignment_seed"]
    inlines = [TrialInline]


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ["pk", "participant", "group", "position", "is_practice", "condition", "plays"]
    list_filter = ["participant__study", "is_practice", "condition"]
    raw_id_fields = ["participant", "stimulus"]


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = [
        "trial",
        "naturalness",
        "creativity",
        "musicality",
        "listen_time_s",
        "plays",
        "submitted_at",
    ]
    list_filter = ["trial__participant__study"]
    raw_id_fields = ["trial"]


class PageClipInline(admin.TabularInline):
    model = PageClip
    extra = 0
    fields = ["slot", "condition", "stimulus", "plays", "first_played_at", "ended_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    """The MUSHRA and pairwise pages; their clips (with the condition) are shown to staff only here."""

    list_display = ["pk", "participant", "position", "is_practice", "item_key", "submitted_at"]
    list_filter = ["participant__study", "is_practice"]
    raw_id_fields = ["participant"]
    readonly_fields = ["public_id", "created_at", "submitted_at"]
    inlines = [PageClipInline]


@admin.register(MushraScore)
class MushraScoreAdmin(admin.ModelAdmin):
    list_display = ["page_clip", "scale", "score", "submitted_at"]
    list_filter = ["page_clip__page__participant__study", "scale"]
    raw_id_fields = ["page_clip"]


@admin.register(PairwiseChoice)
class PairwiseChoiceAdmin(admin.ModelAdmin):
    list_display = ["page", "question", "chosen", "submitted_at"]
    list_filter = ["page__participant__study", "question"]
    raw_id_fields = ["page", "chosen"]
