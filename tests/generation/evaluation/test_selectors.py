"""The stimulus-set page's symbolic metrics: a set's clips beside the real-music set's, and the snippet."""

import numpy as np
import pytest
from django.template.loader import render_to_string

from generation.evaluation.selectors import stimulus_set_symbolic_metrics
from generation.models import Stimulus, StimulusSet
from generation.music.encoding import HOLD

pytestmark = pytest.mark.django_db


def make_set(name, source, melodies, *, progression=("C",) * 8):
    stimulus_set = StimulusSet.objects.create(name=name, source=source, status=StimulusSet.Status.READY)
    for position, melody in enumerate(melodies):
        Stimulus.objects.create(
            stimulus_set=stimulus_set,
            item_key=f"item-{position}",
            position=position,
            audio=f"stimuli/audio/{name}-{position}.mp3",
            duration_s=6.0,
            audio_sha256="0" * 64,
            progression=list(progression),
            provenance={"melody": [int(t) for t in melody]},
        )
    return stimulus_set


def quarters(pitches):
    return np.array([t for p in pitches for t in (p, HOLD, HOLD, HOLD)])


def test_metrics_of_a_set_beside_real_music_and_the_snippet():
    real = make_set("real", StimulusSet.Source.REAL, [quarters([60, 64, 67, 72, 67, 64, 60, 64])] * 2)
    generated = make_set(
        "gen", StimulusSet.Source.GENERATED, [quarters([61, 62, 63, 65, 66, 68, 70, 71]), quarters([60] * 8)]
    )
    result = stimulus_set_symbolic_metrics(stimulus_set=generated)
    assert result["real_set"] == real
    assert (result["n_pieces"], result["n_real"]) == (2, 2)
    rows = {row["metric"]: row for row in result["rows"]}
    assert rows["chord_tone_ratio"]["real"] == 1.0  # C-major arpeggios over C
    assert rows["chord_tone_ratio"]["value"] == pytest.approx((0 + 1) / 2)  # no chord tone, then all C
    assert rows["pitch_count"]["value"] == pytest.approx((8 + 1) / 2)
    assert rows["pitch_count"]["real"] == 4
    assert 0 <= result["overlap_area"] < 1 and result["kl_divergence"] > 0

    html = render_to_string("generation/evaluation/_symbolic_metrics.html", {"symbolic_metrics": result})
    assert 'data-metric="chord_tone_ratio"' in html
    assert "<td>0.500</td>" in html and "<td>1.000</td>" in html
    assert "real v1" in html


def test_a_real_set_is_shown_alone():
    real = make_set("real", StimulusSet.Source.REAL, [quarters([60, 62])])
    result = stimulus_set_symbolic_metrics(stimulus_set=real)
    assert result["real_set"] is None and result["overlap_area"] is None
    html = render_to_string("generation/evaluation/_symbolic_metrics.html", {"symbolic_metrics": result})
    assert "no real-music set" in html and "Real music</th>" not in html
