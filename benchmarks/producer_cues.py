"""The producer's path: do `compose` cues stall on a note or go silent?

Samples what `python manage.py compose --checkpoint V --chords "Dm | Bb | F | C" --seconds 30 --tempo 80
--seed S` samples (one chord a bar, unlike the chorales' chord a beat), for seeds 0..--seeds-1, through the
same generation.sampling.compose_cue and the default sampling, and prints per checkpoint how many cues hold
a note for two bars or more, the longest note, and how many are silent:

    .venv/bin/python benchmarks/producer_cues.py proposed wavenet

Seconds per checkpoint on one core, so `make bench` leaves it out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generation.checkpoints import load_model  # noqa: E402
from generation.evaluation.symbolic import melody_notes  # noqa: E402
from generation.sampling import DEFAULT_SAMPLING, compose_cue  # noqa: E402

STEPS_PER_BAR = 16  # 4/4 in 16ths


def check(variant: str, *, chords: str, seconds: float, tempo: float, seeds: int) -> dict:
    model = load_model(variant)
    held, silent, longest = 0, 0, 0
    for seed in range(seeds):
        cue = compose_cue(model, chords, seconds=seconds, tempo_bpm=tempo, seed=seed)
        notes = melody_notes(cue.melody)
        if not notes:
            silent += 1
            continue
        note = max(n.duration for n in notes)
        longest = max(longest, note)
        held += note >= 2 * STEPS_PER_BAR
    return {
        "checkpoint": variant,
        "cues": seeds,
        "held >= 2 bars": held,
        "longest note (steps)": longest,
        "silent": silent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", default=["proposed", "wavenet"])
    parser.add_argument("--chords", default="Dm | Bb | F | C")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--tempo", type=float, default=80.0)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    print(f"sampling: {DEFAULT_SAMPLING.to_dict()}")
    rows = [
        check(v, chords=args.chords, seconds=args.seconds, tempo=args.tempo, seeds=args.seeds)
        for v in args.variants
    ]
    print("| " + " | ".join(rows[0]) + " |")
    print("| " + " | ".join("---" for _ in rows[0]) + " |")
    for row in rows:
        print("| " + " | ".join(str(value) for value in row.values()) + " |")


if __name__ == "__main__":
    main()
