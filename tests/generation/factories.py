"""factory_boy factories for generation's models, shared by every test that needs stimuli.

`StimulusSetFactory(items=3)` makes a ready set whose stimuli carry a small real MP3 (a sine tone,
`duration_s` seconds, default 1 s), encoded as the rendering pipeline encodes clips.
"""

import functools
import hashlib
import io

import factory
import numpy as np
import soundfile as sf
from django.core.files.base import ContentFile

from generation.models import Stimulus, StimulusSet
from generation.rendering import MP3_COMPRESSION_LEVEL

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
