"""studies/prepared.py: a query compiled once gives what its queryset gives, for any values."""

import pytest
from django.db.models import F

from studies.models import Participant, Study
from studies.prepared import PreparedQuery
from tests.studies.factories import OpenStudyFactory, ParticipantFactory

pytestmark = pytest.mark.django_db

QUERY = PreparedQuery(
    lambda token, slug: (
        Participant.objects.select_related("study")
        .defer("questionnaire", "study__description")
        .annotate(study_title=F("study__title"))
        .filter(token=token, study__slug=slug)
        .exclude(study__status=Study.Status.DRAFT)
        .order_by()
    ),
    token="\x00token\x00",
    slug="\x00slug\x00",
)


def test_a_prepared_query_builds_what_its_queryset_builds(django_assert_num_queries):
    study = OpenStudyFactory(slug="p1")
    other = OpenStudyFactory(slug="p2")
    mine, theirs = ParticipantFactory(study=study), ParticipantFactory(study=other)
    for participant in (mine, theirs):
        with django_assert_num_queries(1):
            [found] = QUERY(token=participant.token, slug=participant.study.slug)
            # select_related, deferred fields and annotations as the ORM sets them
            assert found.study.title == found.study_title == participant.study.title
            assert found.study.pk == participant.study_id and found.pk == participant.pk
            assert found.status == participant.status and found.last_seen_at == participant.last_seen_at
        assert found.get_deferred_fields() == {"questionnaire"}
        assert found.study.get_deferred_fields() == {"description"}
        assert found.questionnaire == participant.questionnaire  # a deferred field is read on access
    assert QUERY(token=mine.token, slug="p2") == []
    Study.objects.filter(pk=study.pk).update(status=Study.Status.DRAFT)
    assert QUERY(token=mine.token, slug="p1") == []


def test_a_placeholder_must_appear_once():
    query = PreparedQuery(lambda token: Participant.objects.filter(token="x"), token="\x00token\x00")
    with pytest.raises(ValueError, match="appears 0 times"):
        query(token="y")
    with pytest.raises(TypeError):
        QUERY(token="y")
