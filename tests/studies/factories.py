"""factory_boy factories for the studies app (and the stimuli it plays), shared by every test.

`StimulusSetFactory(items=3)` makes a ready set whose stimuli carry a small real MP3 (a sine tone,
`duration_s` seconds, default 1 s). `StudyFactory(conditions=5, items=3)` makes a study whose
conditions each point at their own ready set rendering the same items; `OpenStudyFactory` opens
it through the real service. `ParticipantFactory(study=...)` joins through participant_join, so
the participant has its balanced trials exactly as in production.
"""

import functools
import hashlib
import io

import factory
import numpy as np
import soundfile as sf
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile

from docbgm_site.access import RESEARCHER_GROUP
from generation.models import Stimulus, StimulusSet
from generation.rendering import MP3_COMPRESSION_LEVEL
from studies import services
from studies.models import Condition, Participant, Study

SAMPLE_RATE = 44100


@functools.lru_cache(maxsize=16)
def tone_mp3(duration_s: float = 1.0, frequency: float = 440.0) -> bytes:
    """A quiet sine tone as constant-bitrate MP3 bytes, no tags (what a rendered stimulus looks like)."""
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    samples = (0.2 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(
        buffer,
        np.stack([samples, samples], axis=1),
        SAMPLE_RATE,
        format="MP3",
        compression_level=MP3_COMPRESSION_LEVEL,
        bitrate_mode="CONSTANT",
    )
    return buffer.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", "pass-for-tests")

    @factory.post_generation
    def researcher(user, create, extracted, **kwargs):
        """`UserFactory(researcher=True)` puts the user in the "researcher" group."""
        if create and extracted:
            user.groups.add(Group.objects.get_or_create(name=RESEARCHER_GROUP)[0])
        if create:
            user.save()


class StimulusSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StimulusSet
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"set-{n}")
    version = 1
    source = StimulusSet.Source.GENERATED
    status = StimulusSet.Status.READY

    @factory.post_generation
    def items(stimulus_set, create, extracted, **kwargs):
        """`items=3` (default) or a list of item keys: one stimulus per item."""
        if isinstance(extracted, list | tuple):
            keys = extracted
        else:
            keys = [f"item{k}" for k in range(3 if extracted is None else extracted)]
        for position, key in enumerate(keys):
            StimulusFactory(stimulus_set=stimulus_set, item_key=key, position=position, **kwargs)


class StimulusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stimulus

    class Params:
        frequency = 440.0

    stimulus_set = factory.SubFactory(StimulusSetFactory, items=0)
    item_key = factory.Sequence(lambda n: f"item{n}")
    position = 0
    duration_s = 1.0
    loudness_lufs = -23.0
    audio = factory.LazyAttribute(
        lambda o: ContentFile(
            tone_mp3(o.duration_s, o.frequency), name=f"{o.stimulus_set.name}-{o.item_key}.mp3"
        )
    )
    audio_sha256 = factory.LazyAttribute(
        lambda o: hashlib.sha256(tone_mp3(o.duration_s, o.frequency)).hexdigest()
    )


class StudyFactory(factory.django.DjangoModelFactory):
    """A draft study; `conditions=5` (default) ready sets named cond0.., `items=3` items each."""

    class Meta:
        model = Study
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"study-{n}")
    title = factory.LazyAttribute(lambda o: f"Study {o.slug}")
    owner = factory.SubFactory(UserFactory, researcher=True)
    consent_text = "I agree to take part."
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
