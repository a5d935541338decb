"""Scoring the ingest against the score (generation/separation/evaluate_ingest.py, `evaluate_ingest`)."""

import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from generation.checkpoints import load_model
from generation.music.encoding import NO_CHORD, STEPS_PER_BEAT
from generation.nets.separation import SOURCES
from generation.separation.evaluate_ingest import (
    beat_chord_accuracy,
    chord_label,
    heldout_chorales,
    note_scores,
    render_case,
    score_case,
)
from generation.separation.ingest import melody_notes, transcribe
from generation.separation.stems import split_of

SECONDS = 8.0
# Pass marks on the first 8 s of the first held-out chorale (bwv104.6) with the committed model. The
# earlier small checkpoint measured note F 0.37 and chords right on 77 % of beats there (its first bars
# glide between notes; the 30 s that evaluate_ingest scores reach F 0.93). Tracking music + vocals, as ingest did before,
# follows the inner voices and scores about 0.1; the melody's median pitch tells the two apart.
MIN_F = 0.3
MIN_CHORDS = 0.6


@pytest.fixture(scope="module")
def case():
    name, midi = next(heldout_chorales(1))
    return render_case(name, midi, sample_rate=16000, max_seconds=SECONDS)


def test_a_case_is_a_heldout_chorale_with_its_soprano_and_chords(case):
    assert split_of(case.name) == "test"
    assert case.stems.shape == (len(SOURCES), int(SECONDS * 16000))
    assert all(np.sqrt(np.mean(stem**2)) > 0.01 for stem in case.stems)
    assert case.notes and all(onset < SECONDS for onset, _, _ in case.notes)
    # the soprano: the top voice, well above the mean of a four-part texture
    assert np.mean([p for *_, p in case.notes]) > 64
    assert len(case.chords) == len(case.beats) - 1 >= 8
    assert np.allclose(np.diff(case.beats), case.beats[1] - case.beats[0])
    assert (case.chords != NO_CHORD).mean() > 0.8


def test_heldout_chorales_come_from_the_split_asked_for():
    assert all(split_of(name) == "validation" for name, _ in heldout_chorales(2, "validation"))
    with pytest.raises(ValueError, match="split"):
        next(heldout_chorales(1, "train"))


def test_note_scores_count_onsets_and_pitches():
    reference = [(0.0, 0.5, 60), (0.5, 1.0, 62), (1.0, 2.0, 64)]
    assert note_scores(reference, reference) == (1.0, 1.0, 1.0)
    assert note_scores(reference, [(a + 0.05, b, p) for a, b, p in reference])[2] == 1.0
    assert note_scores(reference, [(a + 0.15, b, p) for a, b, p in reference])[2] == 0.0
    assert note_scores(reference, [(a, b, p + 1) for a, b, p in reference])[2] == 0.0
    precision, recall, f = note_scores(reference, reference[:1] + [(1.5, 1.8, 70)])
    assert (precision, recall) == (0.5, 1 / 3) and f == pytest.approx(0.4)
    assert note_scores(reference, []) == (0.0, 0.0, 0.0)


def test_beat_chord_accuracy_reads_the_chord_in_the_middle_of_each_beat():
    assert [chord_label(c) for c in (0, 21, NO_CHORD)] == ["C:maj", "A:min", "N"]
    beats = np.arange(5) * 0.6
    reference = np.array([0, 0, 21, NO_CHORD])
    grid = np.arange(0, 2.4 + 1e-9, 0.15)  # the ingest's own grid, here the score's
    chords = np.repeat(reference, STEPS_PER_BEAT)
    assert beat_chord_accuracy(beats, reference, grid, chords) == 1.0
    shifted = np.repeat([0, 21, 21, 7], STEPS_PER_BEAT)  # beat 2 and 4 wrong
    assert beat_chord_accuracy(beats, reference, grid, shifted) == 0.5


def test_ingest_of_a_heldout_chorale_finds_its_soprano(case):
    model = load_model("separation")
    score = score_case(case, model)
    assert score.melody_stem == "vocals"
    assert abs(score.tempo_bpm - score.true_tempo_bpm) < 3
    assert score.f_measure >= MIN_F, score
    assert score.chord_accuracy >= MIN_CHORDS, score
    found = transcribe(case.mixture, case.sample_rate, model, key=case.name)
    pitches = [p for *_, p in melody_notes(found.piece.melody, found.grid)]
    assert abs(np.median(pitches) - np.median([p for *_, p in case.notes])) <= 2  # the soprano, not the alto


def test_evaluate_ingest_command_prints_both_renderings(tmp_path, capsys):
    out = tmp_path / "scores.json"
    call_command("evaluate_ingest", pieces=1, seconds=6.0, json=str(out), no_progress=True)
    printed = capsys.readouterr().out
    assert "in distribution: TimGM6mb.sf2" in printed and "unseen soundfont: FluidR3_GM.sf2" in printed
    assert printed.count("| **mean** |") == 2
    written = json.loads(out.read_text())
    assert set(written) == {"in distribution", "unseen soundfont"}
    for scores in written.values():
        assert len(scores) == 1 and 0.0 <= scores[0]["f_measure"] <= 1.0
        assert split_of(scores[0]["name"]) == "test"


def test_evaluate_ingest_command_refuses_bad_options(tmp_path):
    with pytest.raises(CommandError, match="soundfont not found"):
        call_command("evaluate_ingest", pieces=1, soundfont=str(tmp_path / "missing.sf2"))
    with pytest.raises(CommandError, match="at least 1"):
        call_command("evaluate_ingest", pieces=0)
