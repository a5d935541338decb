"""Equal-budget A/B runs of training options for one melody network: the bar position, more corpora.

Each arm trains `--variant` at `--preset` on the same budget (steps x batch, seed 0) through the one
recipe (generation.recipes.train_variant), then is scored on the CHORALE validation split whatever it
was trained on: its validation loss there, and the `evaluate symbolic` distance to the real validation
melodies (generation.evaluation.experiments.distance_to_real; the first --items validation chorales in
4/4, --draws melodies each, DEFAULT_SAMPLING). Held-out pieces are never used.

An arm is a corpus name as `train --corpus` takes it, with "@bar" for the bar-position option:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ab_training.py --steps 1000 \\
        --arms chorales chorales@bar "chorales+palestrina:300"

Checkpoints go to <out>/<arm>; the table is printed and written to <out>/ab.md. Slow (minutes per arm
on one core), so `make bench` does not run it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generation.datasets import batches_for  # noqa: E402
from generation.evaluation.experiments import (  # noqa: E402
    Settings,
    distance_to_real,
    draw_melodies,
    markdown_table,
)
from generation.music.corpus import load_corpus  # noqa: E402
from generation.paths import var_dir  # noqa: E402
from generation.recipes import train_config, train_variant  # noqa: E402
from generation.stimuli import heldout_items  # noqa: E402
from generation.training import evaluate, pick_device  # noqa: E402

MEASURES = (
    "chord_tone_share",
    "mean_abs_interval",
    "step_share",
    "pitch_range",
    "out_of_key_share",
    "rest_share",
)


def slug(arm: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", arm.lower()).strip("-")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", default="proposed")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, help="default: the preset's")
    parser.add_argument("--arms", nargs="+", default=["chorales", "chorales@bar"])
    parser.add_argument("--items", type=int, default=12, help="validation chorales in 4/4 to sample on")
    parser.add_argument("--draws", type=int, default=2, help="melodies per item")
    parser.add_argument("--out", type=Path, default=var_dir() / "ab")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = {"steps": args.steps, "checkpoint_steps": ()}
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    config = train_config(args.variant, args.preset, **overrides)
    settings = Settings(out=args.out, draws=args.draws)
    items = heldout_items(load_corpus("chorales").validation, count=args.items, steps=settings.steps)
    print(f"load average at the start: {os.getloadavg()} (the machine is shared)", flush=True)
    rows, drawn = [], {}
    for arm in args.arms:
        corpus, _, flag = arm.partition("@")
        options = {"bar_position": True} if flag == "bar" else {}
        started = time.time()
        result = train_variant(
            args.variant,
            preset=args.preset,
            corpus=corpus,
            config=config,
            out=args.out / slug(arm),
            command=f"benchmarks/ab_training.py --arms {arm} --steps {args.steps}",
            model_options=options,
        )
        seconds = time.time() - started
        model = result.model
        validation = batches_for(
            args.variant,
            "chorales",
            split="validation",
            batch_size=config.batch_size,
            seed=0,
            config=model.config,
        )
        chorale_loss = evaluate(model, validation, pick_device("cpu"))
        drawn[arm] = draw_melodies(model.cpu(), items, settings)
        rows.append((arm, result.validation_losses[-1][1], chorale_loss, seconds))
        print(f"{arm}: chorale validation loss {chorale_loss:.4f} after {seconds:.0f} s", flush=True)
    table, _ = distance_to_real(drawn, items)
    columns = [c for c in (*MEASURES, "distance", "degenerate") if c in table.columns]
    lines = [
        f"{args.variant} ({args.preset}), {config.steps} steps x batch {config.batch_size}, seed {config.seed}; "
        f"{len(items)} validation chorales x {args.draws} draws; load average at the end {os.getloadavg()}",
        "",
        "| arm | validation loss (its corpus) | validation loss (chorales) | train seconds |",
        "| --- | --- | --- | --- |",
        *(f"| {arm} | {own:.4f} | {chorales:.4f} | {seconds:.0f} |" for arm, own, chorales, seconds in rows),
        "",
        markdown_table(table[columns]),
    ]
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ab.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
