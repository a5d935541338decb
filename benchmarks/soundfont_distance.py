"""How alike do the General MIDI soundfonts sound? The evidence behind the held-out soundfonts.

    .venv/bin/python benchmarks/soundfont_distance.py [--pieces 6] [--seconds 12]

The first `--pieces` chorales are planned once (same programs, velocities and drums; no room) and
rendered with each soundfont at 16 kHz; per stem, the distance between two soundfonts is the RMS
difference of the long-term mean log-mel spectrum (64 bands), averaged over the pieces. 0 means the
same timbre; the printed table is the one in docs/separation.md.
"""

from __future__ import annotations

import argparse
import itertools

import librosa
import numpy as np

from generation.nets.separation import SOURCES
from generation.separation.stems import (
    HELDOUT_SOUNDFONTS,
    TRAINING_SOUNDFONTS,
    chorale_midis,
    find_soundfont,
    plan_rendering,
    render_plans,
)

RATE = 16000


def timbre(audio: np.ndarray) -> np.ndarray:
    """The long-term mean log-mel spectrum of a stem."""
    return np.log(librosa.feature.melspectrogram(y=audio, sr=RATE, n_mels=64) + 1e-6).mean(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    plans = [
        plan_rendering(name, midi, sample_rate=RATE, max_seconds=args.seconds)
        for name, midi in chorale_midis(args.pieces)
    ]
    for plan in plans:
        plan.room = None  # the fonts alone
    fonts = [*TRAINING_SOUNDFONTS, *HELDOUT_SOUNDFONTS]
    rendered = {
        name: render_plans(plans, soundfont=find_soundfont(name), sample_rate=RATE, progress=name)
        for name in fonts
    }
    print("| soundfonts | " + " | ".join(SOURCES) + " | mean |")
    print("| --- |" + " --- |" * (len(SOURCES) + 1))
    for first, second in itertools.combinations(fonts, 2):
        distances = np.mean(
            [
                [
                    np.sqrt(np.mean((timbre(a.stems[i]) - timbre(b.stems[i])) ** 2))
                    for i in range(len(SOURCES))
                ]
                for a, b in zip(rendered[first], rendered[second])
            ],
            axis=0,
        )
        cells = " | ".join(f"{d:.2f}" for d in distances)
        print(f"| {first} vs {second} | {cells} | {distances.mean():.2f} |")


if __name__ == "__main__":
    main()
