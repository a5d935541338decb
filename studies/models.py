"""Studies, conditions, participants, trials and ratings (see the listening-study issue).

A Study compares Conditions; each Condition points at one StimulusSet *version*, so a running study
never changes under its volunteers. A Participant is one volunteer's session (an unguessable token,
never a sequential id in the browser); at join it receives G x M Trials (studies/design.py), each with
an opaque public id; a Trial gets at most one Rating, and the database enforces the 1-5 range.
"""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_noop

from generation.models import Stimulus, StimulusSet

SCALES = ("naturalness", "creativity", "musicality")
DEFAULT_SCALE_DEFINITIONS = {
    "naturalness": "How natural and fluent the melody sounds, as if a person had written it.",
    "creativity": "How original and interesting the melody is, beyond simple repetition.",
    "musicality": "How pleasant and musically coherent the melody is with its chords.",
}
RATING_MIN, RATING_MAX = 1, 5
# A study's consent text when the researcher gives none. Like the default scale definitions it is
# built in, so the catalog translates it (locale/); a researcher's own text has no translation but
# the one they give in Study.translations.
DEFAULT_CONSENT_TEXT = gettext_noop(
    "Taking part is voluntary. You will listen to short pieces of music and rate them. We record "
    "your ratings, how you played each clip and your optional answers about yourself, but not your "
    "name or contact details. The answers are used for research and may be published, without "
    "anything that identifies you. You can stop at any time by closing this page."
)
# The texts a researcher can give in each offered language (Study.translations, Study.text).
TRANSLATABLE_TEXTS = ("title", "description", "consent_text", "instructions", "scale_definitions")
# The design texts a researcher can give in each offered language, {key: text} under these names in
# Study.translations: the design option (Study.design_options) they translate and its text field.
DESIGN_TEXTS = {"scale_labels": ("scales", "label"), "questions": ("questions", "text")}


def default_scale_definitions() -> dict[str, str]:
    return dict(DEFAULT_SCALE_DEFINITIONS)


def default_languages() -> list[str]:
    return [code for code, _ in settings.LANGUAGES]


def default_consent_text() -> str:
    return DEFAULT_CONSENT_TEXT


def built_in_translation(text: str, language: str) -> str | None:
    """`text` in `language` if it is one of the built-in default texts and the catalog translates
    it there (the site's own language counts: the defaults are written in it); None otherwise."""
    if text not in (DEFAULT_CONSENT_TEXT, *DEFAULT_SCALE_DEFINITIONS.values()):
        return None
    if language == settings.LANGUAGE_CODE:
        return text
    with translation.override(language):
        translated = translation.gettext(text)
    return translated if translated != text else None


def new_completion_code() -> str:
    """Eight upper-case letters and digits, easy to copy into Prolific (no 0/O, 1/I confusion)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))


def new_participant_token() -> str:
    return secrets.token_urlsafe(24)


def new_trial_public_id() -> str:
    # Random, never sequential: the browser must not learn how many trials exist or their order.
    return secrets.token_urlsafe(16)


def new_study_seed() -> int:
    return secrets.randbelow(2**31)


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class TestType(models.TextChoices):
        RATING = "rating", "Rating (the paper's 1-5 scales, one clip at a time)"
        MUSHRA = "mushra", "MUSHRA (every condition of an item on one page, 0-100)"
        PAIRWISE = "pairwise", "Pairwise preference (two clips of one item)"

    slug = models.SlugField(max_length=60, unique=True, help_text="The volunteer link is /s/<slug>/.")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    description = models.TextField(blank=True, help_text="What volunteers read before consenting.")
    consent_text = models.TextField(
        blank=True,
        default=default_consent_text,
        help_text="In the site's language (English); other languages in translations.",
    )
    consent_version = models.CharField(
        max_length=40, default="1", help_text="Change it whenever the consent text changes."
    )
    instructions = models.TextField(blank=True)
    groups = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(20)], help_text="G"
    )
    clips_per_group = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(20)], help_text="M"
    )
    scale_definitions = models.JSONField(
        default=default_scale_definitions,
        help_text="One-line definition of each scale: naturalness, creativity, musicality.",
    )
    target_participants = models.PositiveIntegerField(
        default=30, help_text="Completed participants wanted; 0 means no limit."
    )
    completion_code = models.CharField(max_length=40, blank=True)
    redirect_url = models.URLField(blank=True, help_text="Where volunteers go at the end (Prolific).")
    languages = models.JSONField(default=default_languages)
    translations = models.JSONField(
        default=dict,
        blank=True,
        help_text='The texts in other offered languages: {"zh-hans": {"title": ..., "description": ..., '
        '"consent_text": ..., "instructions": ..., "scale_definitions": {"naturalness": ...}}}; '
        "a text not given falls back to the study's own (see Study.text).",
    )
    headphone_check = models.BooleanField(default=True)
    volume_check = models.BooleanField(default=True)
    practice = models.BooleanField(default=True, help_text="One practice clip before the trials.")
    seat_timeout_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1)],
        help_text="A session idle this long is abandoned and its clips given to the next volunteer.",
    )
    seed = models.BigIntegerField(default=new_study_seed, help_text="Replays every assignment.")
    analysis_options = models.JSONField(
        default=dict,
        blank=True,
        help_text='Analysis settings of this study, e.g. {"min_panel_correlation": 0.6}; '
        "any key of studies/analysis/config.py's AnalysisConfig. Empty: the defaults.",
    )
    test_type = models.CharField(max_length=10, choices=TestType.choices, default=TestType.RATING)
    design_options = models.JSONField(
        default=dict,
        blank=True,
        help_text="Options of the MUSHRA or pairwise design (services.design_options_clean); "
        "empty for the rating design.",
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="studies")
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"
        constraints = [
            models.CheckConstraint(condition=models.Q(groups__gte=1), name="study_groups_positive"),
            models.CheckConstraint(
                condition=models.Q(clips_per_group__gte=1), name="study_clips_per_group_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.slug})"

    @property
    def clips_total(self) -> int:
        return self.groups * self.clips_per_group

    def text(self, field: str, language: str):
        """The study's `field` (one of TRANSLATABLE_TEXTS) as a volunteer reading `language` sees it.

        The text given for `language` in `translations` if there is one, else the study's own,
        which the catalog translates only where it is a built-in default (DEFAULT_CONSENT_TEXT, the
        default scale definitions). scale_definitions falls back scale by scale. Reads only this
        row: a volunteer page costs no query for it.
        """
        if field not in TRANSLATABLE_TEXTS:
            raise ValueError(f"{field!r} is not one of a study's texts: {', '.join(TRANSLATABLE_TEXTS)}")
        given = (self.translations or {}).get(language) or {}
        own = getattr(self, field)
        if field == "scale_definitions":
            mine = given.get(field) or {}
            return {
                scale: mine.get(scale) or built_in_translation(definition, language) or definition
                for scale, definition in own.items()
            }
        return given.get(field) or built_in_translation(own, language) or own

    def design_texts(self, kind: str, language: str) -> list[dict[str, str]]:
        """The MUSHRA scales (kind "scale_labels") or pairwise questions ("questions") as a volunteer
        reading `language` sees them: design_options' [{"key", "label" or "text"}], each text the one
        given for `language` in `translations`, else the study's own, which the catalog translates
        only where it is one of its texts (the built-in default scale and question). Falls back one
        key at a time; reads only this row: a volunteer page costs no query for it.
        """
        if kind not in DESIGN_TEXTS:
            raise ValueError(f"{kind!r} is not one of a study's design texts: {', '.join(DESIGN_TEXTS)}")
        option, text_field = DESIGN_TEXTS[kind]
        given = ((self.translations or {}).get(language) or {}).get(kind) or {}
        entries = []
        for entry in (self.design_options or {}).get(option) or []:
            text = given.get(entry["key"])
            if not text:
                with translation.override(language):
                    text = translation.gettext(entry[text_field]) if entry[text_field] else ""
            entries.append({"key": entry["key"], text_field: text})
        return entries


class Condition(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system", "System"
        REFERENCE = "reference", "Reference (real music)"
        LOW_ANCHOR = "low_anchor", "Low anchor"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="conditions")
    stimulus_set = models.ForeignKey(StimulusSet, on_delete=models.PROTECT, related_name="conditions")
    name = models.SlugField(max_length=80, help_text="Internal; seen only by researchers.")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.SYSTEM)

    class Meta:
        ordering = ["study", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="condition_study_name")]

    def __str__(self) -> str:
        return f"{self.study.slug}: {self.name}"


class Participant(models.Model):
    class Status(models.TextChoices):
        CONSENTED = "consented", "Consented"
        SCREENING = "screening", "Screening"
        RATING = "rating", "Rating"
        COMPLETED = "completed", "Completed"
        SCREENED_OUT = "screened_out", "Screened out"
        ABANDONED = "abandoned", "Abandoned"

    # A seat counts towards exposure while its owner may still rate (see services.exposure_counts).
    LIVE_STATUSES = (Status.CONSENTED, Status.SCREENING, Status.RATING)

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    token = models.CharField(max_length=64, unique=True, default=new_participant_token, editable=False)
    prolific_pid = models.CharField(max_length=64, blank=True)
    prolific_study_id = models.CharField(max_length=64, blank=True)
    prolific_session_id = models.CharField(max_length=64, blank=True)
    consent_version = models.CharField(max_length=40)
    consented_at = models.DateTimeField()
    questionnaire = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONSENTED)
    headphone_correct = models.PositiveSmallIntegerField(null=True, blank=True)
    headphone_total = models.PositiveSmallIntegerField(null=True, blank=True)
    headphone_passed = models.BooleanField(null=True, blank=True)
    volume_checked = models.BooleanField(default=False)
    language = models.CharField(max_length=10, default="en")
    assignment_seed = models.BigIntegerField(help_text="Seed of design.assign for this volunteer.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    completion_code = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["study", "created_at"]
        constraints = [
            # A Prolific participant joins a study once; a second visit resumes the same session.
            models.UniqueConstraint(
                fields=["study", "prolific_pid"],
                condition=~models.Q(prolific_pid=""),
                name="participant_study_prolific_pid",
            )
        ]
        indexes = [models.Index(fields=["study", "status", "last_seen_at"])]

    def __str__(self) -> str:
        return f"{self.study.slug} participant {self.pk}"

    @property
    def pseudonym(self) -> str:
        """Stable, non-identifying label for analyses (never the token)."""
        return f"P{self.pk:04d}"


class Trial(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    group = models.PositiveSmallIntegerField(help_text="1..G; 0 for the practice clip.")
    position = models.PositiveSmallIntegerField(help_text="1..M within the group; 0 for practice.")
    is_practice = models.BooleanField(default=False)
    stimulus = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="trials")
    condition = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="trials")
    public_id = models.CharField(max_length=40, unique=True, default=new_trial_public_id, editable=False)
    first_played_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    plays = models.PositiveIntegerField(default=0)
    play_events = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["participant", "group", "position"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "group", "position"], name="trial_slot"),
        ]

    def __str__(self) -> str:
        kind = "practice" if self.is_practice else f"group {self.group} clip {self.position}"
        return f"{self.participant} {kind}"


def _rating_range(field: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__gte": RATING_MIN, f"{field}__lte": RATING_MAX}),
        name=f"rating_{field}_1_5",
    )


class Rating(models.Model):
    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="rating")
    naturalness = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(RATING_MIN), MaxValueValidator(RATING_MAX)]
    )
    creativity = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(RATING_MIN), MaxValueValidator(RATING_MAX)]
    )
    musicality = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(RATING_MIN), MaxValueValidator(RATING_MAX)]
    )
    listen_time_s = models.FloatField(help_text="Seconds from the first play to the submission.")
    plays = models.PositiveIntegerField(default=0)
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["submitted_at"]
        constraints = [_rating_range(scale) for scale in SCALES]

    def __str__(self) -> str:
        return f"rating of {self.trial}"


class Exposure(models.Model):
    """How many seats hold one (condition, item) pair: `services.exposure_counts` kept up to date.

    The join reads these rows instead of counting every earlier trial of the study, so a join costs
    the same for the thousandth volunteer as for the first; it adds one to each pair it assigns in
    the same transaction, and releasing a seat (abandoned, screened out) takes its unrated pairs
    off again. `services.exposure_counts_stored` reads them; a recount must always agree.
    """

    condition = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="exposures")
    item_key = models.CharField(max_length=200)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["condition", "item_key"]
        constraints = [models.UniqueConstraint(fields=["condition", "item_key"], name="exposure_pair")]

    def __str__(self) -> str:
        return f"{self.condition}: {self.item_key} x {self.count}"


# --- The MUSHRA and pairwise designs (Study.test_type) --------------------------------------

SLOT_LABELS = "ABCDEFGH"  # a page's clips as the volunteer sees them; PageClip.slot indexes it
MUSHRA_MIN, MUSHRA_MAX = 0, 100


class Page(models.Model):
    """One screen of a MUSHRA or pairwise session: the clips of one item, answered together.

    MUSHRA: every condition of the item, in the volunteer's own order (slots A, B, ...); pairwise:
    two conditions, slot 0 on the left and 1 on the right. `public_id` is the page's opaque id in
    the volunteer's URLs, like Trial.public_id.
    """

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="pages")
    position = models.PositiveSmallIntegerField(help_text="1.. in the volunteer's order; 0 for practice.")
    item_key = models.CharField(max_length=200)
    is_practice = models.BooleanField(default=False)
    public_id = models.CharField(max_length=40, unique=True, default=new_trial_public_id, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["participant", "position"]
        constraints = [models.UniqueConstraint(fields=["participant", "position"], name="page_slot")]

    def __str__(self) -> str:
        kind = "practice page" if self.is_practice else f"page {self.position}"
        return f"{self.participant} {kind}"


class PageClip(models.Model):
    """One clip of a page; its public_id is the clip's audio URL token, and play/ended events are
    recorded on it as on a Trial (each clip must be played to its end before the page counts)."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="clips")
    condition = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="page_clips")
    stimulus = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="page_clips")
    slot = models.PositiveSmallIntegerField(
        help_text='0..; shown as "ABCDEFGH"[slot]; pairwise 0 left, 1 right.'
    )
    public_id = models.CharField(max_length=40, unique=True, default=new_trial_public_id, editable=False)
    plays = models.PositiveIntegerField(default=0)
    first_played_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["page", "slot"]
        constraints = [
            models.UniqueConstraint(fields=["page", "slot"], name="page_clip_slot"),
            models.UniqueConstraint(fields=["page", "condition"], name="page_clip_condition"),
        ]

    def __str__(self) -> str:
        return f"{self.page} clip {self.label}"

    @property
    def label(self) -> str:
        return SLOT_LABELS[self.slot]


class MushraScore(models.Model):
    page_clip = models.ForeignKey(PageClip, on_delete=models.CASCADE, related_name="scores")
    scale = models.CharField(max_length=40)
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(MUSHRA_MIN), MaxValueValidator(MUSHRA_MAX)]
    )
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["page_clip", "scale"]
        constraints = [
            models.UniqueConstraint(fields=["page_clip", "scale"], name="mushra_score_clip_scale"),
            models.CheckConstraint(
                condition=models.Q(score__gte=MUSHRA_MIN, score__lte=MUSHRA_MAX), name="mushra_score_0_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.page_clip} {self.scale} = {self.score}"


class PairwiseChoice(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="choices")
    question = models.CharField(max_length=40)
    chosen = models.ForeignKey(PageClip, on_delete=models.CASCADE, related_name="choices")
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["page", "question"]
        constraints = [models.UniqueConstraint(fields=["page", "question"], name="pairwise_choice_question")]

    def __str__(self) -> str:
        return f"{self.page} {self.question}: {self.chosen.label}"


class PairExposure(models.Model):
    """How many seats hold one (unordered pair of conditions, item), by side: the pairwise join's
    counts, kept like Exposure (read and updated in the join's transaction, released with a seat).

    `first` is the pair's condition with the smaller id; `first_left` counts the pages that show it
    on the left, `first_right` those that show it on the right.
    """

    first = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="pair_exposures_first")
    second = models.ForeignKey(Condition, on_delete=models.CASCADE, related_name="pair_exposures_second")
    item_key = models.CharField(max_length=200)
    first_left = models.PositiveIntegerField(default=0)
    first_right = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["first", "second", "item_key"]
        constraints = [
            models.UniqueConstraint(fields=["first", "second", "item_key"], name="pair_exposure_pair"),
            models.CheckConstraint(
                condition=models.Q(first__lt=models.F("second")), name="pair_exposure_order"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.first.name} vs {self.second.name}: {self.item_key} x {self.first_left + self.first_right}"
        )
