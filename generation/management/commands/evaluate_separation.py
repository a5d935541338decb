"""`python manage.py evaluate_separation`: BSS Eval v4 and v3 of the model, two oracles and the floor.

Held-out pieces are rendered with each soundfont in turn (default: the training soundfonts, then
the held-out one), so the report shows the model in distribution and on timbres it never heard.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from django.core.management.base import BaseCommand, CommandError

from generation.checkpoints import CheckpointError, load_model
from generation.rendering import RenderingError
from generation.separation.evaluate import (
    METHODS,
    evaluate_tracks,
    markdown_table,
    scores_as_dicts,
    sdr_table,
    summary,
)
from generation.separation.musdb import is_musdb_folder
from generation.separation.stems import (
    HELDOUT_SOUNDFONTS,
    TRAINING_SOUNDFONTS,
    find_soundfont,
    load_multitracks,
    soundfont_role,
)


class Command(BaseCommand):
    help = (
        "BSS Eval v4 (museval) and v3 (mir_eval) of a separation checkpoint on held-out mixtures rendered "
        "with each soundfont, next to the IRM1 and IRM2 oracles and the mixture floor."
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
        parser.add_argument(
            "--soundfont",
            action="append",
            help=(
                "render the pieces with this .sf2/.sf3 file (repeatable; default: "
                f"{', '.join(TRAINING_SOUNDFONTS)} and the held-out {', '.join(HELDOUT_SOUNDFONTS)})"
            ),
        )
        parser.add_argument(
            "--methods",
            default=",".join(METHODS),
            help=f"comma-separated, from {', '.join(METHODS)} (the oracles and the floor do not depend on the model)",
        )
        parser.add_argument("--split", default="test", choices=["test", "validation", "train"])
        parser.add_argument("--tracks", type=int, default=12, help="at most this many pieces of the split")
        parser.add_argument("--seconds", type=float, default=10.0, help="excerpt length per piece")
        parser.add_argument("--json", help="also write every score and the summaries to this file")
        parser.add_argument("--threads", type=int, default=1)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        torch.set_num_threads(options["threads"])
        if options["tracks"] < 1 or options["seconds"] <= 0:
            raise CommandError("--tracks must be at least 1 and --seconds above 0")
        methods = tuple(m.strip() for m in options["methods"].split(",") if m.strip())
        if not methods or any(m not in METHODS for m in methods):
            raise CommandError(f"--methods: choose from {', '.join(METHODS)}")
        try:
            model = load_model(options["checkpoint"])
        except CheckpointError as error:
            raise CommandError(str(error)) from None
        if getattr(model, "variant", "") != "separation":
            raise CommandError(
                f"{options['checkpoint']} is a {model.variant!r} checkpoint, not a separation one"
            )
        corpus = options["corpus"]
        recorded = corpus != "chorales" and is_musdb_folder(Path(corpus))
        if recorded and options["soundfont"]:
            raise CommandError(f"{corpus} is a MUSDB18 folder of recordings: --soundfont does not apply")
        try:
            fonts = (
                [None]
                if recorded
                else [Path(f) for f in options["soundfont"]]
                if options["soundfont"]
                else [find_soundfont(name) for name in (*TRAINING_SOUNDFONTS, *HELDOUT_SOUNDFONTS)]
            )
        except RenderingError as error:
            raise CommandError(str(error)) from None

        rate = model.config.sample_rate
        self.stdout.write(
            f"checkpoint {options['checkpoint']}; {options['split']} pieces of {corpus}, the middle "
            f"{options['seconds']:g} s of each, {rate} Hz; medians over pieces in dB (BSS Eval v4: museval, "
            "1 s windows; v3: mir_eval bss_eval_sources)"
        )
        report = {}
        overview = []
        all_scores = []
        for font in fonts:
            try:
                tracks = load_multitracks(
                    corpus,
                    split=options["split"],
                    sample_rate=rate,
                    soundfonts=None if font is None else [font],
                    progress=not options["no_progress"],
                )
            except (ValueError, RenderingError) as error:
                raise CommandError(str(error)) from None
            tracks = tracks[: options["tracks"]]
            if not tracks:
                raise CommandError(f"the {options['split']} split of {corpus!r} has no pieces")
            scores = evaluate_tracks(
                model,
                tracks,
                seconds=options["seconds"],
                methods=methods,
                progress=not options["no_progress"],
            )
            all_scores += scores
            label = "recorded audio" if font is None else f"{font.name} ({soundfont_role(font)})"
            tables = {version: summary(scores, version) for version in ("v4", "v3")}
            report[label] = tables
            self.stdout.write(f"\n### {label}: {len(tracks)} pieces\n")
            self.stdout.write("SDR, BSS Eval v4 / v3:\n")
            self.stdout.write(sdr_table(scores))
            self.stdout.write("\nSDR / SIR / SAR, BSS Eval v4:\n")
            self.stdout.write(markdown_table(tables["v4"]))
            overview.append((label, tables))

        self.stdout.write("\n### Overview: mean SDR over the four sources (v4 / v3)\n")
        self.stdout.write(
            "| soundfont | model | oracle IRM1 | oracle IRM2 | mixture (floor) | gap closed (v4, IRM1) |"
        )
        self.stdout.write("| --- | --- | --- | --- | --- | --- |")
        for label, tables in overview:
            cells = [
                " / ".join(f"{tables[v][m]['mean']['sdr']:.2f}" for v in ("v4", "v3"))
                if m in tables["v4"]
                else "-"
                for m in ("model", "irm1", "irm2", "mixture")
            ]
            v4 = {
                m: tables["v4"][m]["mean"]["sdr"] for m in ("model", "irm1", "mixture") if m in tables["v4"]
            }
            closed = (
                f"{100 * (v4['model'] - v4['mixture']) / (v4['irm1'] - v4['mixture']):.0f} %"
                if len(v4) == 3
                else "-"
            )
            self.stdout.write(f"| {label} | " + " | ".join(cells) + f" | {closed} |")
        if options["json"]:
            Path(options["json"]).write_text(
                json.dumps(
                    {"summary": report, "scores": scores_as_dicts(all_scores)},
                    indent=1,
                    default=lambda value: float(value) if isinstance(value, np.floating) else str(value),
                )
                + "\n"
            )
            self.stdout.write(f"wrote {options['json']}")
