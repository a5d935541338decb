"""studies/analysis/live.py: the live results are computed once per state of the ratings."""

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from studies.analysis import live
from studies.models import Rating
from tests.studies.factories import OpenStudyFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


def rate_one(participant, value: int) -> None:
    trial = participant.trials.filter(is_practice=False, rating__isnull=True).first()
    trial.first_played_at = trial.ended_at = timezone.now()
    trial.save()
    Rating.objects.create(
        trial=trial, naturalness=value, creativity=value, musicality=value, listen_time_s=5, plays=1
    )


def test_pages_reuse_the_results_until_a_new_rating_arrives(client, monkeypatch):
    cache.clear()
    study = OpenStudyFactory(items=3, headphone_check=False)
    participant = ParticipantFactory(study=study)
    rate_one(participant, 4)
    computed = []
    compute = live._compute
    monkeypatch.setattr(live, "_compute", lambda s: computed.append(s.pk) or compute(s))
    client.force_login(study.owner)
    page = reverse("researcher:study-detail", kwargs={"slug": study.slug})
    fragment = reverse("analysis:summary-fragment", kwargs={"slug": study.slug})
    summary = reverse("analysis:summary", kwargs={"slug": study.slug})
    assert client.get(page).status_code == 200
    assert client.get(fragment).status_code == 200
    assert client.get(summary).json()["ratings"] == 3
    assert computed == [study.pk]  # three renders, one analysis
    rate_one(participant, 2)
    assert client.get(summary).json()["ratings"] == 6  # live: the new rating is in
    assert 'id="live-summary-table"' in client.get(page).content.decode()
    assert computed == [study.pk, study.pk]
