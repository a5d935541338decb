"""factory_boy factories for the studies app, shared by every test.

`StudyFactory(conditions=5, items=3)` makes a study whose conditions each point at their own ready
set (tests/generation/factories.py) rendering the same items; `OpenStudyFactory` opens it through
the real service. `ParticipantFactory(study=...)` joins through participant_join, so the
participant has its balanced trials exactly as in production.
"""

import factory

from studies import services
from studies.models import Condition, Participant, Study
from tests.factories import UserFactory
from tests.generation.factories import StimulusSetFactory


class StudyFactory(factory.django.DjangoModelFactory):
    """A draft study; `conditions=5` (default) ready sets named cond0.., `items=3` items each."""

    class Meta:
        model = Study
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"study-{n}")
    title = factory.LazyAttribute(lambda o: f"Study {o.slug}")
    owner = factory.SubFactory(UserFactory, researcher=True)
    consent_text = "I agree to take part."
    # A consent text of the study's own needs its version in every offered language (study_open).
    translations = factory.LazyFunction(lambda: {"zh-hans": {"consent_text": "我同意参加本研究。"}})
    completion_code = "TESTCODE"
    seed = 1234
    groups = 3
    clips_per_group = 5

    @classmethod
    def _create(cls, model_class, *args, items=3, duration_s=1.0, **kwargs):
        # `items` and `duration_s` shape the condition sets made below, not the Study row.
        study = super()._create(model_class, *args, **kwargs)
        study._factory_sets = {"items": items, "duration_s": duration_s}
        return study

    @factory.post_generation
    def conditions(study, create, extracted, **kwargs):
        if not create:
            return
        items, duration_s = study._factory_sets["items"], study._factory_sets["duration_s"]
        roles = ["system"] * 3 + ["reference", "low_anchor"]
        for k in range(5 if extracted is None else extracted):
            stimulus_set = StimulusSetFactory(
                name=f"{study.slug}-cond{k}", items=items, items__duration_s=duration_s
            )
            Condition.objects.create(
                study=study, stimulus_set=stimulus_set, name=f"cond{k}", role=roles[k % len(roles)]
            )


class OpenStudyFactory(StudyFactory):
    @factory.post_generation
    def open(study, create, extracted, **kwargs):
        if create:
            services.study_open(study=study)
            study.refresh_from_db()


def ParticipantFactory(*, study: Study, **kwargs) -> Participant:  # noqa: N802 - reads like a factory
    """Join `study` (which must be open) as a volunteer, through the real service."""
    kwargs.setdefault("consent_version", study.consent_version)
    return services.participant_join(study=study, **kwargs)
