"""`python manage.py evaluate_separation`: SDR / SIR / SAR of the model, the oracle and the floor."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from django.core.management.base import BaseCommand, CommandError

from generation.checkpoints import CheckpointError, load_model
from generation.separation.evaluate import evaluate_tracks, markdown_table, scores_as_dicts, summary
from generation.separation.stems import load_multitracks


class Command(BaseCommand):
    help = (
        "BSS Eval (mir_eval) of a separation checkpoint on held-out rendered mixtures, with oracle and floor."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint", default="separation", help="default: the committed separation model"
        )
        parser.add_argument(
            "--corpus",
            default="chorales",
            help="chorales, chorales:N, a MIDI folder or a MUSDB18-layout folder",
        )
        parser.add_argument("--split", default="test", choices=["test", "validation", "train"])
        parser.add_argument("--tracks", type=int, default=12, help="at most this many pieces of the split")
        parser.add_argument("--seconds", type=float, default=10.0, help="excerpt length per piece")
        parser.add_argument("--json", help="also write every score and the summary to this file")
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        torch.set_num_threads(options["threads"])
        try:
            model = load_model(options["checkpoint"])
        except CheckpointError as error:
            raise CommandError(str(error)) from None
        if getattr(model, "variant", "") != "separation":
            raise CommandError(
                f"{options['checkpoint']} is a {model.variant!r} checkpoint, not a separation one"
            )
        try:
            tracks = load_multitracks(
                options["corpus"], split=options["split"], sample_rate=model.config.sample_rate
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        tracks = tracks[: options["tracks"]]
        if not tracks:
            raise CommandError(f"the {options['split']} split of {options['corpus']!r} has no pieces")
        scores = evaluate_tracks(
            model, tracks, seconds=options["seconds"], progress=not options["no_progress"]
        )
        table = summary(scores)
        self.stdout.write(
            f"{len(tracks)} {options['split']} pieces of {options['corpus']}, {options['seconds']:g} s each, "
            f"{model.config.sample_rate} Hz; median dB (mir_eval BSS Eval v3)"
        )
        self.stdout.write(markdown_table(table))
        if options["json"]:
            Path(options["json"]).write_text(
                json.dumps({"summary": table, "scores": scores_as_dicts(scores)}, indent=1) + "\n"
            )
            self.stdout.write(f"wrote {options['json']}")
