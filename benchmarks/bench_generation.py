"""Training and sampling speed of every melody variant, tiny and small presets, on this CPU.

Prints training steps per second (the preset's batch size, 100-step segments for small), sampling
steps per second, and the seconds it takes to generate 30 s of melody at 80 bpm (160 grid steps).
Run: .venv/bin/python benchmarks/bench_generation.py [variant ...] [--threads N]
On a machine shared with other work, --threads 1 avoids threads spinning while they wait for a core.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generation.nets.base import VARIANTS, MelodyModel, get_variant  # noqa: E402
from generation.sampling import sample_melody  # noqa: E402

TEMPO = 80.0
SECONDS = 30.0


def measure(variant: str, preset: str) -> tuple[float, float, float, int]:
    cls = get_variant(variant)
    config = cls.Config.preset(preset)
    batch_size = cls.Config.training_preset(preset).get("batch_size", 16)
    steps = getattr(config, "segment_steps", 100)
    torch.manual_seed(0)
    model = cls(config)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=5e-4)
    g = torch.Generator().manual_seed(0)
    batch = {
        "melody": torch.randint(55, 80, (batch_size, steps), generator=g),
        "chords": torch.randint(0, 25, (batch_size, steps), generator=g),
    }
    repeats = 5

    def train_step():
        loss, _ = model.training_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    train_step()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        train_step()
    train_rate = repeats / (time.perf_counter() - start)

    model.eval()
    n = int(SECONDS * TEMPO / 60 * 4)
    chords = torch.randint(0, 24, (n,), generator=g).numpy()
    start = time.perf_counter()
    sample_melody(model, chords, seed=0)
    seconds = time.perf_counter() - start
    parameters = sum(p.numel() for p in model.parameters())
    return train_rate, n / seconds, seconds, parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", help="default: every registered melody variant")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the machine has 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import generation.nets  # noqa: F401

    wanted = args.variants or sorted(k for k, cls in VARIANTS.items() if issubclass(cls, MelodyModel))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; 30 s of melody = {int(SECONDS * TEMPO / 15)} steps at {TEMPO:g} bpm"
    )
    print(
        f"{'variant':10} {'preset':6} {'params':>10} {'train steps/s':>14} {'sample steps/s':>15} {'s per 30 s':>11}"
    )
    for variant in wanted:
        for preset in ("tiny", "small"):
            try:
                train_rate, sample_rate, seconds, parameters = measure(variant, preset)
            except Exception as exc:  # a variant that cannot run here is reported, not fatal
                print(f"{variant:10} {preset:6} failed: {exc}")
                continue
            print(
                f"{variant:10} {preset:6} {parameters:>10,} {train_rate:>14.2f} {sample_rate:>15.1f} {seconds:>11.2f}"
            )


if __name__ == "__main__":
    main()
