"""`python manage.py evaluate {convergence,structures,spectrograms,melody,symbolic,sampling,report} --out DIR`.

The paper's objective experiments (Figures 3-6) and the symbolic metrics, each rerunnable from a seed;
see docs/evaluation.md. Step checkpoints that do not exist are trained with --preset (tiny by default:
the whole report then takes minutes on a CPU, not the hours of the paper's sizes).
"""

from __future__ import annotations

from pathlib import Path

import torch
from django.core.management.base import BaseCommand, CommandError

from generation.checkpoints import CheckpointError
from generation.evaluation import experiments
from generation.paths import PRETRAINED_DIR
from generation.stimuli import StimulusItemError


class Command(BaseCommand):
    help = "Run the paper's objective experiments (Figures 3-6) and the symbolic metrics; write figures, CSVs and HTML."

    def add_arguments(self, parser):
        parser.add_argument("experiment", choices=[*experiments.EXPERIMENTS, "report"])
        parser.add_argument("--out", required=True, help="folder for figures, CSV files and index.html")
        parser.add_argument("--variants", nargs="+", help="variants to compare (default: per experiment)")
        parser.add_argument("--items", type=int, default=5, help="held-out progressions (K)")
        parser.add_argument("--seed", type=int, default=0, help="item i is sampled with seed + i")
        parser.add_argument(
            "--temperature", type=float, help="default: generation.sampling.DEFAULT_SAMPLING's"
        )
        parser.add_argument("--top-p", type=float, help="nucleus mass in (0, 1]; default: DEFAULT_SAMPLING's")
        parser.add_argument(
            "--draws", type=int, default=5, help="melodies per item in symbolic's distance table and sampling"
        )
        parser.add_argument(
            "--corpus", default="chorales", help='corpus name (e.g. "chorales", a MIDI folder)'
        )
        parser.add_argument("--seconds", type=float, default=experiments.SECONDS, help="clip length")
        parser.add_argument("--sample-rate", type=int, default=22050)
        parser.add_argument(
            "--checkpoints",
            nargs="+",
            type=Path,
            default=[PRETRAINED_DIR],
            help="folders holding <variant>[-step<N>].safetensors (default: generation/pretrained)",
        )
        parser.add_argument(
            "--steps",
            nargs="+",
            type=int,
            default=list(experiments.CONVERGENCE_STEPS),
            help="convergence steps (G1..Gn)",
        )
        parser.add_argument("--structure-steps", type=int, default=experiments.STRUCTURE_STEPS)
        parser.add_argument(
            "--bidirectional-steps", nargs="+", type=int, default=list(experiments.BIDIRECTIONAL_STEPS)
        )
        parser.add_argument(
            "--preset", default="tiny", help="preset trained when a step checkpoint is missing"
        )
        parser.add_argument(
            "--no-train", action="store_true", help="fail instead of training missing checkpoints"
        )
        parser.add_argument("--variant", help="the one variant of convergence / spectrograms / melody")
        parser.add_argument(
            "--grid-temperatures",
            nargs="+",
            type=float,
            default=list(experiments.SAMPLING_GRID["temperature"]),
            help="sampling: the temperatures tried",
        )
        parser.add_argument(
            "--grid-top-p",
            nargs="+",
            type=float,
            default=list(experiments.SAMPLING_GRID["top_p"]),
            help="sampling: the nucleus masses tried",
        )

    def handle(self, *args, **options):
        if options["items"] < 2:
            raise CommandError("--items must be at least 2 (set distances need pairs)")
        if options["draws"] < 1:
            raise CommandError("--draws must be at least 1")
        torch.set_num_threads(
            1
        )  # step-by-step sampling of small nets is latency-bound; more threads only contend
        settings = experiments.Settings(
            out=Path(options["out"]),
            items=options["items"],
            seed=options["seed"],
            temperature=options["temperature"],
            top_p=options["top_p"],
            draws=options["draws"],
            corpus=options["corpus"],
            seconds=options["seconds"],
            sample_rate=options["sample_rate"],
            checkpoint_dirs=tuple(options["checkpoints"]),
            train_missing=not options["no_train"],
            preset=options["preset"],
            progress=options["verbosity"] > 1,
            log=lambda message: self.stdout.write(message),
        )
        settings.out.mkdir(parents=True, exist_ok=True)
        name, variants = options["experiment"], options["variants"]
        one = {"variant": options["variant"]} if options["variant"] else {}
        try:
            if name == "convergence":
                folder = experiments.convergence(settings, steps=options["steps"], **one)
            elif name == "structures":
                folder = experiments.structures(
                    settings,
                    variants=variants or experiments.STRUCTURE_VARIANTS,
                    steps=options["structure_steps"],
                    bidirectional_steps=options["bidirectional_steps"],
                )
            elif name == "spectrograms":
                folder = experiments.spectrograms(settings, steps=options["structure_steps"], **one)
            elif name == "melody":
                folder = experiments.melody(settings, **one)
            elif name == "sampling":
                folder = experiments.sampling_choice(
                    settings,
                    variants=variants or experiments.STUDY_VARIANTS,
                    temperatures=options["grid_temperatures"],
                    top_ps=options["grid_top_p"],
                )
            elif name == "symbolic":
                folder = experiments.symbolic_metrics(
                    settings, variants=variants or experiments.SYMBOLIC_VARIANTS
                )
            else:
                folder = experiments.report(
                    settings,
                    variants=variants,
                    convergence_steps=options["steps"],
                    structure_steps=options["structure_steps"],
                    bidirectional_steps=options["bidirectional_steps"],
                )
        except (FileNotFoundError, CheckpointError, StimulusItemError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"wrote {folder / 'index.html'}"))
