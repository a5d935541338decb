"""studies/services.py for the MUSHRA and pairwise designs: options, joining, balance, answers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from studies import services
from studies.design import pair_spread
from studies.models import MushraScore, Page, PageClip, PairwiseChoice, Participant, Study
from studies.selectors import participant_current_step, study_progress
from tests.factories import UserFactory
from tests.generation.factories import StimulusSetFactory
from tests.studies.factories import OpenStudyFactory, ParticipantFactory, StudyFactory

pytestmark = pytest.mark.django_db


def mushra_study(**kwargs):
    kwargs.setdefault("design_options", {"items_per_volunteer": 2})
    return OpenStudyFactory(test_type="mushra", headphone_check=False, volume_check=False, **kwargs)


def pairwise_study(**kwargs):
    kwargs.setdefault("design_options", {"pairs_per_volunteer": 3})
    return OpenStudyFactory(test_type="pairwise", headphone_check=False, volume_check=False, **kwargs)


def hear(page: Page, seconds_ago: float = 5.0) -> None:
    """Pretend every clip of the page started `seconds_ago` and reached its end."""
    now = timezone.now()
    PageClip.objects.filter(page=page).update(
        first_played_at=now - timedelta(seconds=seconds_ago), ended_at=now, plays=1
    )


def main_pages(participant):
    return list(participant.pages.filter(is_practice=False).order_by("position"))


def mushra_scores(page, value=70):
    return {clip.label: {"quality": value} for clip in page.clips.all()}


# --- Options ----------------------------------------------------------------------------------


def conditions_with_roles(*roles):
    return [(f"c{k}", StimulusSetFactory(items=3), role) for k, role in enumerate(roles)]


def create(test_type, options, roles=("system", "system", "reference", "low_anchor")):
    return services.study_create(
        slug="designs",
        title="T",
        owner=UserFactory(researcher=True),
        conditions=conditions_with_roles(*roles),
        test_type=test_type,
        design_options=options,
    )


def test_mushra_options_take_reference_and_anchor_from_the_roles_and_fill_defaults():
    study = create("mushra", None)
    study.refresh_from_db()
    assert study.test_type == Study.TestType.MUSHRA
    assert study.design_options == {
        "reference": "c2",
        "anchor": "c3",
        "scales": [{"key": "quality", "label": "Basic audio quality"}],
        "items_per_volunteer": 3,
    }


def test_pairwise_options_default_to_every_pair_once():
    study = create("pairwise", {"questions": [{"key": "fits", "text": "Which fits the film better?"}]})
    assert study.design_options == {
        "questions": [{"key": "fits", "text": "Which fits the film better?"}],
        "pairs_per_volunteer": 6,
    }
    assert Study.objects.get(slug="designs").test_type == "pairwise"


@pytest.mark.parametrize(
    ("test_type", "options", "message"),
    [
        ("mushra", {"reference": "nope"}, "'nope' is not a condition of the study"),
        ("mushra", {"reference": "c0"}, "must have the role reference"),
        ("mushra", {"anchor": "c1"}, "must have the role low_anchor"),
        ("mushra", {"scales": []}, "list of 1 to 5"),
        ("mushra", {"scales": [{"key": "Q Q", "label": "x"}]}, "lower-case letters"),
        ("mushra", {"items_per_volunteer": 0}, "from 1 to 200"),
        ("mushra", {"items_per_volunteer": True}, "from 1 to 200"),
        ("mushra", {"questions": []}, "Unknown mushra design option"),
        ("pairwise", {"questions": [{"key": "a", "text": ""}]}, "1 to 300 characters"),
        ("pairwise", {"questions": [{"key": "a", "text": "x"}, {"key": "a", "text": "y"}]}, "same key"),
        ("pairwise", {"pairs_per_volunteer": "3"}, "whole number"),
        ("rating", {"pairs_per_volunteer": 3}, "allowed: none"),
        ("triangle", {}, "test type must be one of"),
    ],
)
def test_invalid_design_options_are_refused_and_nothing_is_created(test_type, options, message):
    with pytest.raises(services.StudyError, match=message):
        create(test_type, options)
    assert not Study.objects.exists()


def test_mushra_needs_a_reference_condition():
    with pytest.raises(services.StudyError, match="Name the MUSHRA reference"):
        create("mushra", {}, roles=("system", "system"))


def test_open_refuses_a_design_the_items_cannot_fill():
    study = StudyFactory(test_type="mushra", design_options={"items_per_volunteer": 4}, items=3)
    with pytest.raises(services.StudyNotReady, match="scores 4 item"):
        services.study_open(study=study)
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT
    study = StudyFactory(test_type="pairwise", design_options={"pairs_per_volunteer": 31}, items=3)
    with pytest.raises(services.StudyNotReady, match="from 1 to 30"):
        services.study_open(study=study)


def test_open_checks_options_changed_since_creation():
    study = StudyFactory(test_type="mushra", design_options={"reference": "cond0"})
    with pytest.raises(services.StudyNotReady, match="must have the role reference"):
        services.study_open(study=study)


# --- Joining and balance ------------------------------------------------------------------------


def test_mushra_join_gives_pages_of_every_condition_in_shuffled_slots():
    study = mushra_study()
    participant = ParticipantFactory(study=study)
    pages = main_pages(participant)
    assert [p.position for p in pages] == [1, 2] and len({p.item_key for p in pages}) == 2
    conditions = set(study.conditions.values_list("pk", flat=True))
    for page in pages:
        clips = list(page.clips.all())
        assert [c.slot for c in clips] == [0, 1, 2, 3, 4]
        assert {c.condition_id for c in clips} == conditions
        assert all(c.stimulus.item_key == page.item_key for c in clips)
        assert all(c.stimulus.stimulus_set_id == c.condition.stimulus_set_id for c in clips)
    practice = participant.pages.get(is_practice=True)
    assert practice.position == 0 and practice.clips.count() == 5
    assert not participant.trials.exists()
    step = participant_current_step(participant=participant)
    assert step.kind == "practice_page" and step.page == practice


def test_mushra_item_exposure_is_kept_balanced_and_agrees_with_a_recount():
    study = mushra_study(items=5)
    for _ in range(7):
        ParticipantFactory(study=study)
    stored = services.exposure_counts_stored(study=study)
    assert stored == services.exposure_counts(study=study)
    per_item = {}
    for (_, item), n in stored.items():
        per_item.setdefault(item, set()).add(n)
    assert all(len(ns) == 1 for ns in per_item.values())  # every condition of an item alike
    counts = [ns.pop() for ns in per_item.values()]
    assert sum(counts) == 14 and max(counts) - min(counts) <= 1


def test_pairwise_join_balances_pairs_and_sides_through_joins_and_abandons():
    study = pairwise_study(seat_timeout_minutes=5)
    conditions = sorted(study.conditions.values_list("pk", flat=True))
    items = services.study_items(study=study)
    participants = []
    for k in range(12):
        participants.append(ParticipantFactory(study=study))
        stored = services.pair_exposure_counts_stored(study=study)
        assert stored == services.pair_exposure_counts(study=study)
        spread = pair_spread(stored, conditions, items)
        assert spread["pairs"] <= 1 and spread["sides"] <= 1, (k, spread)
    for page in main_pages(participants[0]):
        assert page.clips.count() == 2
        left, right = page.clips.order_by("slot")
        assert left.condition_id != right.condition_id
    # Four seats go quiet and are released; their pages are given back and the next joins fill them.
    Participant.objects.filter(pk__in=[p.pk for p in participants[2:6]]).update(
        last_seen_at=timezone.now() - timedelta(minutes=30)
    )
    for _ in range(8):
        ParticipantFactory(study=study)
        assert services.pair_exposure_counts_stored(study=study) == services.pair_exposure_counts(study=study)
    assert Participant.objects.filter(status=Participant.Status.ABANDONED).count() == 4
    spread = pair_spread(services.pair_exposure_counts_stored(study=study), conditions, items)
    assert spread["pairs"] <= 1 and spread["sides"] <= 1
    assert sum(sum(v) for v in services.pair_exposure_counts(study=study).values()) == 16 * 3


def test_a_screened_out_seat_gives_its_pairs_back():
    study = OpenStudyFactory(test_type="pairwise", design_options={"pairs_per_volunteer": 3})
    participant = ParticipantFactory(study=study)
    assert sum(sum(v) for v in services.pair_exposure_counts_stored(study=study).values()) == 3
    services.participant_record_volume_check(participant=participant)
    services.participant_record_headphone_check(participant=participant, correct=1, total=6)
    assert services.pair_exposure_counts_stored(study=study) == {}


# --- Plays and answers --------------------------------------------------------------------------


def test_mushra_page_needs_every_clip_heard_then_saves_each_score_once():
    study = mushra_study()
    participant = ParticipantFactory(study=study)
    page = main_pages(participant)[0]
    clips = list(page.clips.all())
    for clip in clips[:-1]:
        services.page_clip_record_play(participant=participant, public_id=clip.public_id, event="play")
    with pytest.raises(services.StudyError, match="not been played"):
        services.page_clip_record_play(participant=participant, public_id=clips[-1].public_id, event="ended")
    hear(page)
    PageClip.objects.filter(pk=clips[-1].pk).update(ended_at=None)
    with pytest.raises(services.ListenIncomplete, match="every clip to its end"):
        services.mushra_submit(participant=participant, public_id=page.public_id, scores=mushra_scores(page))
    assert not MushraScore.objects.exists()
    hear(page, seconds_ago=0.1)  # ended, but too soon after the first play to have been heard
    with pytest.raises(services.ListenIncomplete):
        services.mushra_submit(participant=participant, public_id=page.public_id, scores=mushra_scores(page))
    hear(page)
    scores = {clip.label: {"quality": 10 * k} for k, clip in enumerate(clips)}
    services.mushra_submit(participant=participant, public_id=page.public_id, scores=scores)
    again = services.mushra_submit(
        participant=participant, public_id=page.public_id, scores=mushra_scores(page, 99)
    )
    assert again.submitted_at is not None
    saved = {s.page_clip.label: s.score for s in MushraScore.objects.select_related("page_clip")}
    assert saved == {"A": 0, "B": 10, "C": 20, "D": 30, "E": 40}


@pytest.mark.parametrize(
    "scores",
    [
        {"A": {"quality": 101}},
        "not an object",
        {"A": {"quality": -1}},
        {"A": {"quality": True}},
        {"A": {"quality": 50.5}},
        {"A": {"loudness": 50}},
    ],
)
def test_invalid_mushra_scores_are_refused_and_nothing_is_saved(scores):
    study = mushra_study()
    participant = ParticipantFactory(study=study)
    page = main_pages(participant)[0]
    hear(page)
    if isinstance(scores, dict):
        full = mushra_scores(page)
        full.update(scores)
        scores = full
    with pytest.raises(services.AnswerInvalid):
        services.mushra_submit(participant=participant, public_id=page.public_id, scores=scores)
    missing = mushra_scores(page)
    missing.pop("C")
    with pytest.raises(services.AnswerInvalid, match="every clip on every scale"):
        services.mushra_submit(participant=participant, public_id=page.public_id, scores=missing)
    page.refresh_from_db()
    assert page.submitted_at is None and not MushraScore.objects.exists()


def test_pairwise_choice_needs_both_clips_heard_and_is_saved_once():
    study = pairwise_study()
    participant = ParticipantFactory(study=study)
    page = main_pages(participant)[0]
    with pytest.raises(services.ListenIncomplete):
        services.pairwise_submit(
            participant=participant, public_id=page.public_id, choices={"preference": "A"}
        )
    hear(page)
    for bad, message in [({"preference": "C"}, "clip A or clip B"), ({}, "every question")]:
        with pytest.raises(services.AnswerInvalid, match=message):
            services.pairwise_submit(participant=participant, public_id=page.public_id, choices=bad)
    services.pairwise_submit(participant=participant, public_id=page.public_id, choices={"preference": "B"})
    services.pairwise_submit(participant=participant, public_id=page.public_id, choices={"preference": "A"})
    (choice,) = PairwiseChoice.objects.all()
    assert choice.chosen == page.clips.get(slot=1) and choice.question == "preference"


def test_pages_and_clips_of_another_volunteer_are_not_found():
    study = pairwise_study()
    mine, theirs = ParticipantFactory(study=study), ParticipantFactory(study=study)
    page = main_pages(theirs)[0]
    hear(page)
    with pytest.raises(services.PageNotFound):
        services.pairwise_submit(participant=mine, public_id=page.public_id, choices={"preference": "A"})
    with pytest.raises(services.TrialNotFound):
        services.page_clip_record_play(participant=mine, public_id=page.clips.first().public_id, event="play")
    assert not PairwiseChoice.objects.exists()


def test_a_page_of_the_other_design_is_refused():
    study = pairwise_study()
    participant = ParticipantFactory(study=study)
    page = main_pages(participant)[0]
    hear(page)
    with pytest.raises(services.StudyError, match="this kind of answer"):
        services.mushra_submit(participant=participant, public_id=page.public_id, scores=mushra_scores(page))


def test_closed_study_refuses_plays_and_answers():
    study = mushra_study()
    participant = ParticipantFactory(study=study)
    page = main_pages(participant)[0]
    hear(page)
    services.study_close(study=study)
    with pytest.raises(services.StudyNotOpen):
        services.mushra_submit(participant=participant, public_id=page.public_id, scores=mushra_scores(page))
    with pytest.raises(services.StudyNotOpen):
        services.page_clip_record_play(
            participant=participant, public_id=page.clips.first().public_id, event="play"
        )
    assert not MushraScore.objects.exists()


def test_completion_needs_every_page_then_progress_counts_them():
    study = pairwise_study()
    participant = ParticipantFactory(study=study)
    with pytest.raises(services.StudyError, match="every page"):
        services.participant_complete(participant=participant)
    for page in participant.pages.all():
        hear(page)
        services.pairwise_submit(
            participant=participant, public_id=page.public_id, choices={"preference": "A"}
        )
    assert participant_current_step(participant=participant).kind == "done"
    assert services.participant_complete(participant=participant) == "TESTCODE"
    progress = study_progress(study=study)
    assert progress.test_type == "pairwise" and progress.ratings == 3 and progress.completed == 1
    assert sum(row["ratings"] for row in progress.conditions) == 6
    assert len(progress.pairs) == 10 and sum(p["pages"] for p in progress.pairs) == 3
    assert all(0 <= p["first_left"] <= p["pages"] for p in progress.pairs)
