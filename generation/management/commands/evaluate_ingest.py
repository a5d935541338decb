"""`python manage.py evaluate_ingest`: note F and per-beat chord accuracy of the ingest on held-out chorales."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from generation.checkpoints import CheckpointError, load_model
from generation.rendering import RenderingError
from generation.separation.evaluate_ingest import PieceScore, evaluate_ingest, heldout_chorales
from generation.separation.stems import HELDOUT_SOUNDFONT, MAX_SECONDS, TRAINING_SOUNDFONTS, find_soundfont


class Command(BaseCommand):
    help = (
        "Render N held-out chorales the way the separation data is rendered, with the training soundfont "
        "and with an unseen one, run the whole audio ingest on each mixture, and print note F "
        "(mir_eval.transcription, onsets +-100 ms) and per-beat chord accuracy (mir_eval.chord, majmin)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--pieces", type=int, default=6, help="held-out chorales (default 6)")
        parser.add_argument(
            "--split",
            choices=("test", "validation"),
            default="test",
            help="which held-out chorales: the separation test split (default) or the validation split",
        )
        parser.add_argument(
            "--soundfont",
            help=f"the unseen soundfont (default: the installed {HELDOUT_SOUNDFONT}, never trained on)",
        )
        parser.add_argument(
            "--checkpoint", default="separation", help="default: the committed separation model"
        )
        parser.add_argument(
            "--sample-rate", type=int, help="rate the chorales are rendered at (default: the model's)"
        )
        parser.add_argument(
            "--seconds", type=float, default=MAX_SECONDS, help=f"of each chorale (default {MAX_SECONDS:g})"
        )
        parser.add_argument("--json", help="also write every score to this file")
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        torch.set_num_threads(options["threads"])
        if options["pieces"] < 1:
            raise CommandError("--pieces must be at least 1")
        if options["seconds"] <= 0:
            raise CommandError("--seconds must be positive")
        try:
            seen = find_soundfont(TRAINING_SOUNDFONTS[0])
            unseen = Path(options["soundfont"]) if options["soundfont"] else find_soundfont(HELDOUT_SOUNDFONT)
        except RenderingError as error:
            raise CommandError(str(error)) from None
        if not unseen.is_file():
            raise CommandError(f"soundfont not found: {unseen} (name an existing .sf2 or .sf3 file)")
        try:
            model = load_model(options["checkpoint"])
        except CheckpointError as error:
            raise CommandError(str(error)) from None
        if getattr(model, "variant", "") != "separation":
            raise CommandError(
                f"{options['checkpoint']} is a {model.variant!r} checkpoint, not a separation one"
            )
        rate = options["sample_rate"] or model.config.sample_rate
        renders = {"in distribution": seen, "unseen soundfont": unseen}
        chorales = list(heldout_chorales(options["pieces"], options["split"]))
        results: dict[str, list[PieceScore]] = {}
        for label, soundfont in renders.items():
            try:
                results[label] = evaluate_ingest(
                    model,
                    chorales,
                    soundfont=soundfont,
                    sample_rate=rate,
                    max_seconds=options["seconds"],
                    wrap=lambda pieces, label=label: tqdm(
                        pieces,
                        desc=f"ingest ({label})",
                        unit="piece",
                        disable=options["no_progress"],
                    ),
                )
            except RenderingError as error:
                raise CommandError(str(error)) from None
        self.stdout.write(
            f"{len(chorales)} held-out chorales ({options['split']} split, first {options['seconds']:g} s), rendered at {rate} Hz, checkpoint "
            f"{options['checkpoint']}; note F: mir_eval.transcription, onset +-100 ms, pitch +-50 cents, "
            "offsets ignored; chords: mir_eval.chord majmin, share of the score's beats"
        )
        for label, scores in results.items():
            self.stdout.write(f"\n{label}: {renders[label].name}")
            self.stdout.write(self.table(scores))
        if options["json"]:
            written = {label: [asdict(s) for s in scores] for label, scores in results.items()}
            Path(options["json"]).write_text(json.dumps(written, indent=1) + "\n")
            self.stdout.write(f"wrote {options['json']}")

    @staticmethod
    def table(scores: list[PieceScore]) -> str:
        lines = [
            "| piece | note P | note R | note F | chords (beats) | melody stem | tempo found / true |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for s in scores:
            lines.append(
                f"| {s.name} | {s.precision:.2f} | {s.recall:.2f} | {s.f_measure:.2f} | "
                f"{100 * s.chord_accuracy:.0f} % | {s.melody_stem} | {s.tempo_bpm:.1f} / {s.true_tempo_bpm:.1f} |"
            )
        mean = {
            f: float(np.mean([getattr(s, f) for s in scores])) for f in ("precision", "recall", "f_measure")
        }
        chords = float(np.mean([s.chord_accuracy for s in scores]))
        lines.append(
            f"| **mean** | {mean['precision']:.2f} | {mean['recall']:.2f} | **{mean['f_measure']:.2f}** | "
            f"**{100 * chords:.0f} %** | | |"
        )
        return "\n".join(lines)
