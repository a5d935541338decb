"""`python manage.py generate_stimuli --variant proposed [--checkpoint PATH] --items 15 --seconds 24`.

The shell's way to what the researcher's page does: register the checkpoint (the committed one of the
variant unless --checkpoint names another), ask for the set and build it here, with a progress bar.
`--variant real` and `--variant low-anchor` make the reference and the low anchor.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from generation import selectors, services
from generation.models import StimulusSet
from generation.stimuli import SAMPLING_TEMPERATURE, SECONDS

SOURCES = {"real": StimulusSet.Source.REAL, "low-anchor": StimulusSet.Source.LOW_ANCHOR}


def build_set(
    *,
    variant: str,
    checkpoint: str | None,
    items: int,
    seconds: float,
    seed: int,
    temperature: float,
    corpus: str | None,
    soundfont: str,
    progress: bool,
    stdout=None,
) -> StimulusSet:
    """Register, request and build one set in this process (shared with seed_demo)."""
    from generation.checkpoints import CheckpointError, resolve_checkpoint

    model_checkpoint = None
    if variant not in SOURCES:
        try:
            path = Path(checkpoint) if checkpoint else resolve_checkpoint(variant)
        except CheckpointError as error:  # nothing committed for this variant
            raise CommandError(str(error)) from error
        model_checkpoint = services.checkpoint_register_file(path=path, label=path.stem)
        if model_checkpoint.variant.key != variant:
            raise CommandError(f"{path} is a {model_checkpoint.variant.key!r} checkpoint, not {variant!r}")
    stimulus_set = services.stimulus_set_request(
        source=SOURCES.get(variant, StimulusSet.Source.GENERATED),
        checkpoint=model_checkpoint,
        items=items,
        seconds=seconds,
        seed=seed,
        temperature=temperature,
        corpus=corpus,
        soundfont=soundfont,
        queue=False,
    )
    if stimulus_set.status == StimulusSet.Status.READY:
        return stimulus_set
    bar = tqdm(total=items, desc=f"{stimulus_set}", unit="clip", disable=not progress)
    stimulus_set = services.stimulus_set_build(
        stimulus_set_id=stimulus_set.pk, on_progress=lambda done, total: bar.update(done - bar.n)
    )
    bar.close()
    return stimulus_set


class Command(BaseCommand):
    help = "Generate, render and publish a stimulus set (a new version) from the shell, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument(
            "--variant", required=True, help="a model variant (proposed, bilstm, ...), real or low-anchor"
        )
        parser.add_argument("--checkpoint", help="a .safetensors (+ .json) pair; default: the committed one")
        parser.add_argument(
            "--items", type=int, default=services.DEFAULT_ITEMS, help="K held-out progressions"
        )
        parser.add_argument("--seconds", type=float, default=SECONDS, help="clip length (cut on a bar line)")
        parser.add_argument(
            "--seed", type=int, default=0, help="seed of the first item (item i uses seed + i)"
        )
        parser.add_argument("--temperature", type=float, default=SAMPLING_TEMPERATURE)
        parser.add_argument("--corpus", help="corpus whose held-out pieces give the progressions (chorales)")
        parser.add_argument(
            "--soundfont", default="", help=".sf2/.sf3 file (default: pretty_midi's TimGM6mb)"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        try:
            stimulus_set = build_set(
                variant=options["variant"],
                checkpoint=options["checkpoint"],
                items=options["items"],
                seconds=options["seconds"],
                seed=options["seed"],
                temperature=options["temperature"],
                corpus=options["corpus"],
                soundfont=options["soundfont"],
                progress=not options["no_progress"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        if stimulus_set.status != StimulusSet.Status.READY:
            raise CommandError(f"{stimulus_set} failed: {stimulus_set.error}")
        low, high, spread = selectors.loudness_spread(stimulus_sets=[stimulus_set])
        self.stdout.write(
            self.style.SUCCESS(
                f"{stimulus_set}: {stimulus_set.stimuli.count()} clips ready, loudness {low:.2f} to {high:.2f} LUFS "
                f"(spread {spread:.2f} LU)"
            )
        )
