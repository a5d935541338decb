"""Reads of the studies app: what a volunteer sees next, a study's progress, who may see what."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, F, Q, QuerySet

from docbgm_site.access import user_is_researcher
from studies.models import Page, PageClip, Participant, Rating, Study, Trial
from studies.prepared import PreparedQuery

# --- Volunteers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What the volunteer should see next.

    `kind` is one of: "consent" (no session yet), "volume", "headphone" (the two screenings),
    "practice", "trial" (the rating design), "practice_page", "page" (the MUSHRA and pairwise
    designs: `page` is set), "done" (every clip rated: call participant_complete), "completed",
    "screened_out", "expired" (the seat was released after a long pause), "closed" (the study
    closed before the volunteer finished).
    """

    kind: str
    trial: Trial | None = None
    group_number: int = 0  # 1..G of the current trial (0 outside trials)
    groups: int = 0
    clip_number: int = 0  # 1..M within the group
    clips_per_group: int = 0
    rated: int = 0  # main trials rated so far
    total: int = 0  # G * M
    page: Page | None = None  # the MUSHRA or pairwise page (its number is clip_number)

    @property
    def progress_label(self) -> str:
        """ "group 2 of 3, clip 4 of 5" (English; templates translate from the numbers)."""
        if self.kind != "trial":
            return ""
        return (
            f"group {self.group_number} of {self.groups}, clip {self.clip_number} of {self.clips_per_group}"
        )


# The fields of the trials participant_current_step loads (Step.trial); another is read on access.
STEP_TRIAL_FIELDS = (
    "participant",
    "group",
    "position",
    "is_practice",
    "public_id",
    "first_played_at",
    "ended_at",
)


# Compiled once (studies/prepared.py): this read is on every trial page.
_STEP_TRIALS = PreparedQuery(
    lambda participant_id: (
        Trial.objects.filter(participant_id=participant_id)
        .only(*STEP_TRIAL_FIELDS)
        .annotate(rating_pk=F("rating__id"))
        .order_by("-is_practice", "group", "position")
    ),
    participant_id=-(2**62) + 7,
)


def participant_current_step(*, participant: Participant | None) -> Step:
    """The volunteer's next step, derived from the database alone, so a reload resumes exactly."""
    if participant is None:
        return Step(kind="consent")
    study = participant.study
    status = participant.status
    terminal = {
        Participant.Status.COMPLETED: "completed",
        Participant.Status.SCREENED_OUT: "screened_out",
        Participant.Status.ABANDONED: "expired",
    }
    if status in terminal:
        return Step(kind=terminal[status])
    if study.status != Study.Status.OPEN:
        return Step(kind="closed")
    if study.volume_check and not participant.volume_checked:
        return Step(kind="volume")
    if study.headphone_check and participant.headphone_passed is None:
        return Step(kind="headphone")
    if study.test_type != Study.TestType.RATING:
        return _page_step(participant)
    # This runs on every trial page: no COUNT ... GROUP BY, no stimulus join, and of each trial
    # only what the page shows (the stimulus, the condition and the play log stay in the database;
    # the log is JSON that would be decoded for every trial). Whether a trial is rated comes from
    # the one-to-one rating's id in a LEFT JOIN, which compiles for less than an EXISTS subquery.
    trials = _STEP_TRIALS(participant_id=participant.pk)
    for trial in trials:
        trial._state.fields_cache["participant"] = participant
        trial.rated = trial.rating_pk is not None
    main = [t for t in trials if not t.is_practice]
    rated = sum(1 for t in main if t.rated)
    common = dict(groups=study.groups, clips_per_group=study.clips_per_group, rated=rated, total=len(main))
    for trial in trials:
        if trial.rated:
            continue
        if trial.is_practice:
            return Step(kind="practice", trial=trial, **common)
        return Step(kind="trial", trial=trial, group_number=trial.group, clip_number=trial.position, **common)
    return Step(kind="done", **common)


def _page_step(participant: Participant) -> Step:
    """The next unanswered page of a MUSHRA or pairwise session (the practice page first)."""
    pages = list(participant.pages.order_by("-is_practice", "position"))
    main = [p for p in pages if not p.is_practice]
    common = dict(rated=sum(1 for p in main if p.submitted_at), total=len(main))
    for page in pages:
        if page.submitted_at is None:
            kind = "practice_page" if page.is_practice else "page"
            return Step(kind=kind, page=page, clip_number=page.position, **common)
    return Step(kind="done", **common)


def participant_by_token(*, study: Study, token: str) -> Participant | None:
    """The session with this token in this study, or None (also for another study's token)."""
    if not token:
        return None
    # Tokens are unique: no ORDER BY (Meta.ordering would join the study again to sort one row).
    rows = list(Participant.objects.filter(study=study, token=token).order_by()[:1])
    if not rows:
        return None
    rows[0].study = study
    return rows[0]


# --- Researchers -----------------------------------------------------------------------------


def study_list(*, user) -> QuerySet[Study]:
    """The studies a user may see: staff see all, researchers their own, anyone else none."""
    studies = Study.objects.select_related("owner").annotate(
        completed_count=Count("participants", filter=Q(participants__status=Participant.Status.COMPLETED)),
        participant_count=Count("participants"),
    )
    if not user_is_researcher(user):
        return studies.none()
    if user.is_staff:
        return studies
    return studies.filter(owner=user)


def study_visible_to(*, study: Study, user) -> bool:
    """May this user see and act on this study? (its owner, if a researcher; or staff)"""
    return user_is_researcher(user) and (user.is_staff or study.owner_id == user.pk)


def study_for_user(*, slug: str, user) -> Study | None:
    """The study `slug` if this user may see it; None alike when it is missing or someone else's.

    Callers answer both with 404, so a researcher cannot learn that another's study exists.
    """
    study = Study.objects.filter(slug=slug).select_related("owner").first()
    return study if study is not None and study_visible_to(study=study, user=user) else None


@dataclass
class Progress:
    """Live figures of a study (practice clips excluded)."""

    status: str
    target: int
    started: int
    in_progress: int
    screened_out: int
    completed: int
    abandoned: int
    ratings: int
    items: list[str]
    # One row per condition: name, role, ratings, and ratings per item (in `items` order). In a
    # MUSHRA or pairwise study "ratings" counts the answered pages that held the condition.
    conditions: list[dict] = field(default_factory=list)
    test_type: str = Study.TestType.RATING
    # Pairwise: one row per unordered pair of conditions: first, second, answered pages, and how
    # many of them showed the first on the left.
    pairs: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "target": self.target,
            "started": self.started,
            "in_progress": self.in_progress,
            "screened_out": self.screened_out,
            "completed": self.completed,
            "abandoned": self.abandoned,
            "ratings": self.ratings,
            "items": self.items,
            "conditions": self.conditions,
            "test_type": self.test_type,
            "pairs": self.pairs,
        }


def study_progress(*, study: Study) -> Progress:
    """Counts of participants by outcome and of ratings per condition and item."""
    statuses = Counter(
        dict(
            Participant.objects.filter(study=study)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
    )
    if study.test_type != Study.TestType.RATING:
        return _page_progress(study, statuses)
    per_pair = Counter(
        {
            (cid, item): n
            for cid, item, n in Rating.objects.filter(
                trial__participant__study=study, trial__is_practice=False
            )
            .values_list("trial__condition_id", "trial__stimulus__item_key")
            .annotate(n=Count("id"))
            .values_list("trial__condition_id", "trial__stimulus__item_key", "n")
        }
    )
    return _progress(study, statuses, per_pair, answers=sum(per_pair.values()))


def _progress(study: Study, statuses: Counter, per_pair: Counter, *, answers: int, **extra) -> Progress:
    conditions = list(study.conditions.all())
    item_keys = sorted(
        {key for c in conditions for key in c.stimulus_set.stimuli.values_list("item_key", flat=True)}
    )
    rows = []
    for c in conditions:
        per_item = [per_pair.get((c.pk, item), 0) for item in item_keys]
        rows.append({"name": c.name, "role": c.role, "ratings": sum(per_item), "per_item": per_item})
    live = sum(statuses[s] for s in Participant.LIVE_STATUSES)
    return Progress(
        status=study.status,
        target=study.target_participants,
        started=sum(statuses.values()),
        in_progress=live,
        screened_out=statuses[Participant.Status.SCREENED_OUT],
        completed=statuses[Participant.Status.COMPLETED],
        abandoned=statuses[Participant.Status.ABANDONED],
        ratings=answers,
        items=item_keys,
        conditions=rows,
        test_type=study.test_type,
        **extra,
    )


def _page_progress(study: Study, statuses: Counter) -> Progress:
    """study_progress of a MUSHRA or pairwise study: answered main pages, per condition and item,
    and (pairwise) per pair of conditions with the side it was shown on."""
    clips = list(
        PageClip.objects.filter(
            page__participant__study=study, page__is_practice=False, page__submitted_at__isnull=False
        ).values_list("page_id", "page__item_key", "condition_id", "slot")
    )
    per_pair = Counter((condition_id, item) for _, item, condition_id, _ in clips)
    pages: dict[int, dict[int, int]] = {}
    for page_id, _, condition_id, slot in clips:
        pages.setdefault(page_id, {})[slot] = condition_id
    pairs = []
    if study.test_type == Study.TestType.PAIRWISE:
        names = dict(study.conditions.values_list("pk", "name"))
        shown: Counter = Counter()
        for slots in pages.values():
            left, right = slots[0], slots[1]
            shown[(min(left, right), max(left, right), left < right)] += 1
        ids = sorted(names)
        for k, first in enumerate(ids):
            for second in ids[k + 1 :]:
                on_left = shown[(first, second, True)]
                pairs.append(
                    {
                        "first": names[first],
                        "second": names[second],
                        "pages": on_left + shown[(first, second, False)],
                        "first_left": on_left,
                    }
                )
    return _progress(study, statuses, per_pair, answers=len(pages), pairs=pairs)
