"""generation/stimuli.py: clip lengths in whole bars and items fitted to them."""

import numpy as np

from generation.stimuli import clip_steps, loop_to_steps


def test_clip_steps_are_the_whole_bars_within_the_seconds():
    assert clip_steps(24.0) == 128  # the stimuli's default: 8 bars of 4/4 at 80 bpm
    assert clip_steps(45, tempo_bpm=70) == 208  # 52.5 beats = 13.1 bars -> 13 bars of 16 steps
    assert clip_steps(1, tempo_bpm=70) == 16  # never less than one bar
    assert clip_steps(48, tempo_bpm=60, beats_per_bar=3) == 192  # exactly 16 bars of 3/4


def test_loop_to_steps_cuts_or_repeats_the_whole_sequence():
    assert loop_to_steps(np.array([1, 2, 3]), 7).tolist() == [1, 2, 3, 1, 2, 3, 1]
    assert loop_to_steps(np.array([1, 2, 3]), 2).tolist() == [1, 2]
    assert loop_to_steps(np.array([5], dtype=np.int8), 3).dtype == np.int64
