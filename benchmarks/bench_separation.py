"""Separation benchmark: seconds of audio separated per second on this CPU, and the SDR table.

    .venv/bin/python benchmarks/bench_separation.py [--checkpoint separation] [--tracks 12] [--seconds 10] [--speed-only]

Speed: the committed model (or --checkpoint) separates 30 s of rendered mixture, best of 3 runs, on
--threads torch threads. SDR: `evaluate_tracks` on held-out rendered chorales (model, oracle ideal ratio
mask, mixture as estimate), medians in dB, printed as Markdown (the table in docs/separation.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from generation.checkpoints import load_model
from generation.separation.evaluate import evaluate_tracks, markdown_table, summary
from generation.separation.stems import load_multitracks


def speed(model, tracks, *, seconds: float = 30.0, repeats: int = 3) -> float:
    """Seconds of audio separated per wall-clock second (best of `repeats`)."""
    rate = model.config.sample_rate
    mixture = np.concatenate([t.stems.sum(axis=0) for t in tracks])[: int(seconds * rate)]
    audio = torch.from_numpy(mixture.astype(np.float32)).unsqueeze(0)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.separate(audio)
        best = min(best, time.perf_counter() - start)
    return audio.shape[1] / rate / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="separation")
    parser.add_argument("--corpus", default="chorales")
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--speed-only", action="store_true", help="skip the SDR table (evaluate_separation has it)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    tracks = load_multitracks(args.corpus, split="test", sample_rate=model.config.sample_rate)[: args.tracks]
    realtime = speed(model, tracks)
    print(f"speed: {realtime:.1f} s of audio per s ({args.threads} threads, {model.config.sample_rate} Hz)")
    if args.speed_only:
        return
    table = summary(evaluate_tracks(model, tracks, seconds=args.seconds, progress=True))
    print(f"{len(tracks)} held-out pieces of {args.corpus}, {args.seconds:g} s each; median dB")
    print(markdown_table(table))
    if args.json:
        args.json.write_text(json.dumps({"speed_x_realtime": realtime, "summary": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
