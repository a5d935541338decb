"""studies/services.py and selectors.py: launching, joining, screening, playing, rating, completing."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from generation.models import StimulusSet
from studies import services
from studies.design import exposure_spread
from studies.models import Participant, Rating, Study, Trial
from studies.selectors import participant_current_step, study_progress
from tests.factories import UserFactory
from tests.generation.factories import StimulusSetFactory
from tests.studies.factories import OpenStudyFactory, ParticipantFactory, StudyFactory

pytestmark = pytest.mark.django_db


def played(trial: Trial, seconds_ago: float = 5.0) -> Trial:
    """Pretend the clip started `seconds_ago` (the server's clock is what rating_submit checks)."""
    Trial.objects.filter(pk=trial.pk).update(
        first_played_at=timezone.now() - timedelta(seconds=seconds_ago), plays=1
    )
    trial.refresh_from_db()
    return trial


def rate(participant, trial, value=3):
    return services.rating_submit(
        participant=participant,
        public_id=trial.public_id,
        naturalness=value,
        creativity=value,
        musicality=value,
    )


def pass_screening(participant):
    services.participant_record_volume_check(participant=participant)
    assert services.participant_record_headphone_check(participant=participant, correct=5, total=6)


# --- study_create / open / close -------------------------------------------------------------


def test_study_create_with_conditions_and_generated_code():
    owner = UserFactory(researcher=True)
    sets = [StimulusSetFactory(items=3) for _ in range(5)]
    study = services.study_create(
        slug="paper",
        title="Paper replication",
        owner=owner,
        conditions=[(f"c{k}", s, "system") for k, s in enumerate(sets)],
        target_participants=40,
    )
    assert study.status == Study.Status.DRAFT
    assert len(study.completion_code) == 8
    assert [c.name for c in study.conditions.all()] == ["c0", "c1", "c2", "c3", "c4"]
    assert study.groups == 3 and study.clips_per_group == 5
    assert study.analysis_options == {}


def test_study_create_stores_its_analysis_options():
    sets = [StimulusSetFactory(items=3) for _ in range(2)]
    study = services.study_create(
        slug="lenient",
        title="T",
        owner=UserFactory(researcher=True),
        conditions=[("a", sets[0], "system"), ("b", sets[1], "reference")],
        groups=1,
        clips_per_group=2,
        analysis_options={"min_panel_correlation": 0, "require_headphone_check": False},
    )
    study.refresh_from_db()
    assert study.analysis_options == {"min_panel_correlation": 0.0, "require_headphone_check": False}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(slug="not a slug"), "slug"),
        (dict(conditions_role="boss"), "role"),
        (dict(scale_definitions={"naturalness": "x"}), "Scale definitions"),
        (dict(languages=["fr"]), "Languages"),
        (dict(duplicate=True), "same name"),
        (dict(analysis_options={"min_panel_corelation": 0.6}), "unknown setting 'min_panel_corelation'"),
        (dict(analysis_options={"min_rating_variance": -1}), "min_rating_variance must be from 0 to 4"),
        (dict(analysis_options={"require_headphone_check": "no"}), "must be true or false"),
        (dict(analysis_options=[0.6]), "must be a JSON object"),
    ],
)
def test_study_create_refuses_invalid_input_and_saves_nothing(overrides, message):
    owner = UserFactory(researcher=True)
    sets = [StimulusSetFactory(items=3) for _ in range(2)]
    role = overrides.pop("conditions_role", "system")
    names = ["a", "a"] if overrides.pop("duplicate", False) else ["a", "b"]
    kwargs = dict(slug="ok", title="T", owner=owner, clips_per_group=2, groups=1)
    kwargs.update(overrides)
    with pytest.raises(services.StudyError, match=message):
        services.study_create(conditions=[(n, s, role) for n, s in zip(names, sets)], **kwargs)
    assert Study.objects.count() == 0


def test_study_open_validates_and_close_is_idempotent():
    study = StudyFactory(conditions=0)
    with pytest.raises(services.StudyNotReady, match="no conditions"):
        services.study_open(study=study)

    study = StudyFactory(conditions=5, items=3)
    cond = study.conditions.first()
    StimulusSet.objects.filter(pk=cond.stimulus_set_id).update(status=StimulusSet.Status.RUNNING)
    with pytest.raises(services.StudyNotReady, match="not ready for: cond0"):
        services.study_open(study=study)
    StimulusSet.objects.filter(pk=cond.stimulus_set_id).update(status=StimulusSet.Status.READY)

    other = study.conditions.last()
    other.stimulus_set.stimuli.filter(item_key="item2").update(item_key="elsewhere")
    with pytest.raises(services.StudyNotReady, match="same items.*cond4"):
        services.study_open(study=study)
    other.stimulus_set.stimuli.filter(item_key="elsewhere").update(item_key="item2")

    study.clips_per_group = 6
    study.save()
    with pytest.raises(services.StudyNotReady, match="cannot exceed"):
        services.study_open(study=study)
    study.clips_per_group = 5
    study.save()
    study = services.study_open(study=study)
    assert study.status == Study.Status.OPEN and study.opened_at is not None

    closed = services.study_close(study=study)
    first_closed_at = closed.closed_at
    assert services.study_close(study=study).closed_at == first_closed_at


def test_study_open_needs_enough_items():
    study = StudyFactory(conditions=5, items=2)  # 3 clips of a condition need 3 items
    with pytest.raises(services.StudyNotReady, match="share only 2"):
        services.study_open(study=study)


# --- participant_join ------------------------------------------------------------------------


def test_join_assigns_paper_design_with_practice():
    study = OpenStudyFactory()
    participant = ParticipantFactory(study=study, questionnaire={"age_band": "25-34"}, language="zh-hans")
    trials = list(participant.trials.select_related("condition", "stimulus"))
    main = [t for t in trials if not t.is_practice]
    assert len(main) == 15 and len(trials) == 16
    for g in (1, 2, 3):
        group = [t for t in main if t.group == g]
        assert sorted(t.position for t in group) == [1, 2, 3, 4, 5]
        assert len({t.condition_id for t in group}) == 5
    for t in trials:
        assert t.stimulus.stimulus_set_id == t.condition.stimulus_set_id
    assert len({t.public_id for t in trials}) == 16
    assert participant.status == Participant.Status.CONSENTED
    assert len(participant.token) >= 32 and participant.language == "zh-hans"
    assert participant.questionnaire == {"age_band": "25-34"}


def test_join_refuses_draft_closed_and_outdated_consent():
    study = StudyFactory()
    with pytest.raises(services.StudyNotOpen, match="not open"):
        ParticipantFactory(study=study)
    services.study_open(study=study)
    with pytest.raises(services.ConsentOutdated):
        services.participant_join(study=study, consent_version="0")
    services.study_close(study=study)
    with pytest.raises(services.StudyNotOpen, match="closed"):
        ParticipantFactory(study=study)
    assert Participant.objects.count() == 0


def test_a_prolific_pid_joins_once_and_a_second_join_changes_nothing():
    # Resuming happens in the browser that joined (its session cookie); a second join with the same
    # PROLIFIC_PID is another browser, and never receives the session (tests/studies/volunteer/).
    study = OpenStudyFactory()
    first = ParticipantFactory(study=study, prolific_pid="PID1", study_id="S", session_id="X")
    with pytest.raises(services.ParticipantElsewhere, match="another browser"):
        ParticipantFactory(study=study, prolific_pid="PID1", session_id="Y")
    first.refresh_from_db()
    assert first.prolific_session_id == "X" and Participant.objects.filter(study=study).count() == 1
    assert Trial.objects.filter(participant=first).count() == 16
    assert ParticipantFactory(study=study, prolific_pid="PID2").pk != first.pk


def test_join_refuses_when_target_reached():
    study = OpenStudyFactory(target_participants=2)
    ParticipantFactory(study=study)
    ParticipantFactory(study=study)
    with pytest.raises(services.StudyFull):
        ParticipantFactory(study=study)


def test_join_keeps_pairs_balanced_and_refills_abandoned_and_screened_out_seats():
    study = OpenStudyFactory(items=4, seat_timeout_minutes=30)
    conditions = list(study.conditions.values_list("pk", flat=True))
    items = [f"item{k}" for k in range(4)]
    participants = [ParticipantFactory(study=study) for _ in range(8)]
    exposure = services.exposure_counts(study=study)
    assert sum(exposure.values()) == 8 * 15
    assert exposure_spread(exposure, conditions, items) <= 1

    # One volunteer fails screening (released at once); one walks away after rating one clip.
    services.participant_record_headphone_check(participant=participants[0], correct=2, total=6)
    walker = participants[1]
    pass_screening(walker)
    walker.refresh_from_db()
    first = participant_current_step(participant=walker).trial
    rate(walker, played(first))  # practice
    kept = participant_current_step(participant=walker).trial
    rate(walker, played(kept))
    Participant.objects.filter(pk=walker.pk).update(last_seen_at=timezone.now() - timedelta(minutes=31))

    newcomer = ParticipantFactory(study=study)  # releases the stale seat before counting
    walker.refresh_from_db()
    assert walker.status == Participant.Status.ABANDONED
    exposure = services.exposure_counts(study=study)
    # 8 seats: 6 live + the newcomer, plus the abandoned seat's rated clip (its rating counts).
    assert sum(exposure.values()) == 7 * 15 + 1
    newcomer_pairs = {
        (t.condition_id, t.stimulus.item_key) for t in newcomer.trials.filter(is_practice=False)
    }
    gone = {(t.condition_id, t.stimulus.item_key) for t in participants[0].trials.filter(is_practice=False)}
    assert gone <= newcomer_pairs | {(kept.condition_id, kept.stimulus.item_key)}
    assert step_kind(walker) == "expired"
    with pytest.raises(services.ParticipantInactive, match="expired"):
        rate(walker, played(participant_current_step_trial(walker)))


def step_kind(participant):
    participant.refresh_from_db()
    return participant_current_step(participant=participant).kind


def participant_current_step_trial(participant):
    return participant.trials.filter(rating__isnull=True, is_practice=False).first()


def test_assignment_replays_from_the_seed():
    def assignments(slug):
        study = OpenStudyFactory(slug=slug, seed=99, items=4)
        names = []
        for _ in range(3):
            p = ParticipantFactory(study=study)
            names.append(
                [
                    (t.group, t.position, t.condition.name, t.stimulus.item_key)
                    for t in p.trials.order_by("group", "position")
                ]
            )
        return names

    assert assignments("one") == assignments("two")


# --- screening, steps, plays, ratings, completion ---------------------------------------------


def test_full_session_through_steps_and_progress():
    study = OpenStudyFactory()
    participant = ParticipantFactory(study=study)
    assert participant_current_step(participant=None).kind == "consent"
    assert step_kind(participant) == "volume"
    services.participant_record_volume_check(participant=participant)
    assert step_kind(participant) == "headphone"
    assert services.participant_record_headphone_check(participant=participant, correct=4, total=6)
    assert step_kind(participant) == "practice"

    seen = []
    while (step := participant_current_step(participant=participant)).kind in ("practice", "trial"):
        if step.kind == "trial":
            seen.append(step.progress_label)
            assert step.rated == len(seen) - 1 and step.total == 15
        services.trial_record_play(participant=participant, public_id=step.trial.public_id, event="play")
        played(step.trial)
        services.trial_record_play(participant=participant, public_id=step.trial.public_id, event="ended")
        rate(participant, step.trial, value=1 + len(seen) % 5)
    assert seen[0] == "group 1 of 3, clip 1 of 5"
    assert seen[8] == "group 2 of 3, clip 4 of 5"
    assert seen[-1] == "group 3 of 3, clip 5 of 5"
    assert step.kind == "done"
    code = services.participant_complete(participant=participant)
    assert code == "TESTCODE" and services.participant_complete(participant=participant) == code
    assert step_kind(participant) == "completed"

    progress = study_progress(study=study)
    assert (progress.started, progress.completed, progress.ratings) == (1, 1, 15)  # practice excluded
    assert sum(row["ratings"] for row in progress.conditions) == 15
    assert all(row["ratings"] == 3 for row in progress.conditions)
    assert len(progress.conditions[0]["per_item"]) == 3


def test_failed_headphone_check_ends_the_session():
    study = OpenStudyFactory()
    participant = ParticipantFactory(study=study)
    services.participant_record_volume_check(participant=participant)
    assert not services.participant_record_headphone_check(participant=participant, correct=3, total=6)
    participant.refresh_from_db()
    assert participant.status == Participant.Status.SCREENED_OUT
    assert (participant.headphone_correct, participant.headphone_total) == (3, 6)
    assert step_kind(participant) == "screened_out"
    with pytest.raises(services.ParticipantInactive):
        services.participant_record_headphone_check(participant=participant, correct=6, total=6)
    with pytest.raises(services.StudyError):
        services.participant_record_headphone_check(
            participant=ParticipantFactory(study=study), correct=7, total=6
        )
    assert study_progress(study=study).screened_out == 1


def test_study_without_screening_or_practice_goes_straight_to_trials():
    study = OpenStudyFactory(headphone_check=False, volume_check=False, practice=False)
    participant = ParticipantFactory(study=study)
    assert participant.status == Participant.Status.RATING
    step = participant_current_step(participant=participant)
    assert step.kind == "trial" and step.progress_label == "group 1 of 3, clip 1 of 5"
    assert participant.trials.count() == 15


@pytest.fixture
def rating_participant():
    study = OpenStudyFactory(headphone_check=False, volume_check=False, practice=False)
    participant = ParticipantFactory(study=study)
    return participant, participant_current_step(participant=participant).trial


def test_play_events_are_recorded(rating_participant):
    participant, trial = rating_participant
    with pytest.raises(services.StudyError, match="not been played"):
        services.trial_record_play(participant=participant, public_id=trial.public_id, event="ended")
    services.trial_record_play(participant=participant, public_id=trial.public_id, event="play", position_s=0)
    services.trial_record_play(
        participant=participant, public_id=trial.public_id, event="ended", position_s=1.0
    )
    services.trial_record_play(participant=participant, public_id=trial.public_id, event="play")
    trial.refresh_from_db()
    assert trial.plays == 2 and trial.first_played_at and trial.ended_at
    assert [e["event"] for e in trial.play_events] == ["play", "ended", "play"]
    assert trial.play_events[1]["position_s"] == 1.0
    with pytest.raises(services.StudyError, match="Unknown"):
        services.trial_record_play(participant=participant, public_id=trial.public_id, event="pause")


def test_rating_must_wait_for_the_whole_clip(rating_participant):
    participant, trial = rating_participant
    with pytest.raises(services.ListenIncomplete, match="play the clip"):
        rate(participant, trial)
    Trial.objects.filter(pk=trial.pk).update(first_played_at=timezone.now() - timedelta(seconds=0.3))
    with pytest.raises(services.ListenIncomplete, match="whole clip"):
        rate(participant, trial)  # the clip lasts 1 s
    played(trial, seconds_ago=1.2)
    rating = rate(participant, trial, value=4)
    assert rating.listen_time_s >= 1.2 and rating.plays == 1


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((0, 3, 3), "from 1 to 5"),
        ((3, 6, 3), "from 1 to 5"),
        ((3, 3, None), "all three"),
        ((3, "", 3), "all three"),
        ((3.5, 3, 3), "whole number"),
        (("x", 3, 3), "whole number"),
        ((True, 3, 3), "whole number"),
    ],
)
def test_invalid_ratings_are_refused_and_change_nothing(rating_participant, values, message):
    participant, trial = rating_participant
    played(trial)
    with pytest.raises(services.RatingInvalid, match=message):
        services.rating_submit(
            participant=participant,
            public_id=trial.public_id,
            naturalness=values[0],
            creativity=values[1],
            musicality=values[2],
        )
    assert Rating.objects.count() == 0


def test_second_submission_returns_the_first_rating_unchanged(rating_participant):
    participant, trial = rating_participant
    played(trial)
    first = rate(participant, trial, value=2)
    second = rate(participant, trial, value=5)
    assert second.pk == first.pk and second.naturalness == 2
    assert Rating.objects.count() == 1


def test_another_participants_trial_and_a_closed_study_are_refused(rating_participant):
    participant, trial = rating_participant
    other = ParticipantFactory(study=participant.study)
    played(trial)
    with pytest.raises(services.TrialNotFound):
        rate(other, trial)
    with pytest.raises(services.TrialNotFound):
        services.trial_record_play(participant=other, public_id=trial.public_id, event="play")
    with pytest.raises(services.TrialNotFound):
        rate(participant, Trial(public_id="made-up"))
    services.study_close(study=participant.study)
    with pytest.raises(services.StudyNotOpen):
        rate(participant, trial)
    assert step_kind(participant) == "closed"
    assert Rating.objects.count() == 0


def test_complete_refuses_unrated_trials(rating_participant):
    participant, _ = rating_participant
    with pytest.raises(services.StudyError, match="every clip"):
        services.participant_complete(participant=participant)
    participant.refresh_from_db()
    assert participant.status == Participant.Status.RATING and participant.completion_code == ""


def test_database_refuses_ratings_outside_1_to_5(rating_participant):
    _, trial = rating_participant
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(trial=trial, naturalness=6, creativity=3, musicality=3, listen_time_s=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(trial=trial, naturalness=3, creativity=0, musicality=3, listen_time_s=1)


# --- concurrency (real threads, real transactions) --------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_fifty_volunteers_joining_at_once_stay_balanced(run_threads):
    study = OpenStudyFactory(items=4, target_participants=0)
    results, errors = run_threads(50, lambda: services.participant_join(study=study, consent_version="1"))
    assert errors == []
    assert len({p.pk for p in results}) == 50
    exposure = services.exposure_counts(study=study)
    conditions = list(study.conditions.values_list("pk", flat=True))
    assert sum(exposure.values()) == 50 * 15
    # 50 x 3 clips of each condition over 4 items: 37 or 38 each.
    assert exposure_spread(exposure, conditions, [f"item{k}" for k in range(4)]) <= 1
    assert Counter(exposure.values()) == Counter({38: 10, 37: 10})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_submissions_of_one_trial_make_one_rating(run_threads):
    if connection.vendor != "postgresql":
        pytest.skip("row locks under real concurrency need PostgreSQL (SQLite serialises every writer)")
    study = OpenStudyFactory(headphone_check=False, volume_check=False, practice=False)
    participant = ParticipantFactory(study=study)
    trials = list(participant.trials.order_by("group", "position")[:2])
    for trial in trials:
        played(trial)

    def submit():
        return [rate(participant, trial, value=k + 2).pk for k, trial in enumerate(trials)]

    results, errors = run_threads(20, submit)
    assert errors == []
    assert Rating.objects.count() == 2
    assert {tuple(r) for r in results} == {
        tuple(Rating.objects.order_by("trial__group", "trial__position").values_list("pk", flat=True))
    }
    assert sorted(Rating.objects.values_list("naturalness", flat=True)) == [2, 3]
