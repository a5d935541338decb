"""Exposure counts kept by the joins (studies.models.Exposure) always equal a recount of the trials."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from studies import services
from studies.design import exposure_spread
from studies.models import Exposure, Participant, Trial
from studies.selectors import participant_current_step
from tests.studies.factories import OpenStudyFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


def assert_kept_equals_recount(study) -> None:
    assert services.exposure_counts_stored(study=study) == services.exposure_counts(study=study)


def rate_current(participant) -> None:
    trial = participant_current_step(participant=participant).trial
    Trial.objects.filter(pk=trial.pk).update(first_played_at=timezone.now() - timedelta(seconds=5))
    services.rating_submit(
        participant=participant, public_id=trial.public_id, naturalness=3, creativity=3, musicality=3
    )


def test_opening_makes_one_row_per_pair_and_joins_count_up():
    study = OpenStudyFactory(items=4, target_participants=0)
    assert Exposure.objects.filter(condition__study=study).count() == 5 * 4
    assert sum(services.exposure_counts_stored(study=study).values()) == 0
    for _ in range(6):
        ParticipantFactory(study=study)
    assert sum(services.exposure_counts_stored(study=study).values()) == 6 * 15
    assert_kept_equals_recount(study)


def test_released_seats_give_back_only_their_unrated_pairs():
    study = OpenStudyFactory(items=4, target_participants=0, seat_timeout_minutes=30)
    screened, walker, stays = (ParticipantFactory(study=study) for _ in range(3))
    services.participant_record_headphone_check(participant=screened, correct=1, total=6)
    assert_kept_equals_recount(study)

    services.participant_record_volume_check(participant=walker)
    services.participant_record_headphone_check(participant=walker, correct=6, total=6)
    walker.refresh_from_db()
    rate_current(walker)  # practice
    rate_current(walker)  # one counted clip
    Participant.objects.filter(pk=walker.pk).update(last_seen_at=timezone.now() - timedelta(minutes=31))
    ParticipantFactory(study=study)  # this join releases the walker's seat
    walker.refresh_from_db()
    assert walker.status == Participant.Status.ABANDONED
    # stays + the newcomer, and the walker's one rated clip
    assert sum(services.exposure_counts_stored(study=study).values()) == 2 * 15 + 1
    assert_kept_equals_recount(study)
    assert stays.status == Participant.Status.CONSENTED


def test_a_study_without_rows_gets_them_from_a_recount_at_the_next_join():
    study = OpenStudyFactory(items=4, target_participants=0)
    for _ in range(3):
        ParticipantFactory(study=study)
    Exposure.objects.filter(condition__study=study).delete()  # as for a study opened before the rows
    ParticipantFactory(study=study)
    assert sum(services.exposure_counts_stored(study=study).values()) == 4 * 15
    assert_kept_equals_recount(study)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_volunteers_joining_at_once_keep_counts_balanced_and_equal_to_a_recount(run_threads):
    if connection.vendor != "postgresql":
        pytest.skip("row locks under real concurrency need PostgreSQL (SQLite serialises every writer)")
    study = OpenStudyFactory(items=4, target_participants=0)
    results, errors = run_threads(20, lambda: services.participant_join(study=study, consent_version="1"))
    assert errors == []
    assert len({p.pk for p in results}) == 20
    kept = services.exposure_counts_stored(study=study)
    assert kept == services.exposure_counts(study=study)
    assert sum(kept.values()) == 20 * 15
    conditions = list(study.conditions.values_list("pk", flat=True))
    assert exposure_spread(kept, conditions, [f"item{k}" for k in range(4)]) <= 1
