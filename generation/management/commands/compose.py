"""`python manage.py compose --checkpoint proposed --chords "Dm | Bb | F | C" --seconds 45 --tempo 70 --out cue`."""

from __future__ import annotations

from pathlib import Path

import torch
from django.core.management.base import BaseCommand, CommandError

from generation.checkpoints import CheckpointError, load_model
from generation.music.encoding import chord_name
from generation.nets.base import MelodyModel
from generation.rendering import render_clip, save_clip
from generation.sampling import Cue, Sampling, compose_cue


def write_cue_files(cue: Cue, out: Path) -> list[Path]:
    """Write the cue's files next to the stem `out`; returns what was written (cue.mid, cue.mp3, cue.flac)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    midi_path = out.with_name(out.name + ".mid")
    cue.midi.write(str(midi_path))
    # The same clip pipeline as the stimuli: FluidSynth, cut at the grid's end (a bar line) with a
    # short fade, -23 LUFS under a -1 dBTP ceiling, untagged MP3 + FLAC.
    clip = render_clip(cue.midi, seconds=cue.seconds, bar_seconds=cue.seconds)
    files = save_clip(
        clip, mp3_path=out.with_name(out.name + ".mp3"), flac_path=out.with_name(out.name + ".flac")
    )
    return [midi_path, files.mp3, files.flac]


class Command(BaseCommand):
    help = "Compose one cue: a melody over a chord progression, with accompaniment, as MIDI."

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint", required=True, help="checkpoint path, or a variant key (committed)"
        )
        parser.add_argument("--chords", required=True, help='bars separated by "|", e.g. "Dm | Bb | F | C"')
        parser.add_argument("--seconds", type=float, default=30.0)
        parser.add_argument("--tempo", type=float, default=80.0, help="quarter notes per minute")
        parser.add_argument("--beats-per-bar", type=int, default=4)
        parser.add_argument(
            "--temperature",
            type=float,
            help="softmax temperature (default: generation.sampling.DEFAULT_SAMPLING's)",
        )
        parser.add_argument(
            "--top-p", type=float, help="nucleus sampling mass, in (0, 1] (default: DEFAULT_SAMPLING's)"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--accompaniment", choices=["block", "arpeggio", "none"], default="block")
        parser.add_argument("--key", help='key signature, e.g. "D minor" (estimated when left out)')
        parser.add_argument("--melody-program", type=int, default=0, help="General MIDI program (0 = piano)")
        parser.add_argument(
            "--chord-program", type=int, default=48, help="General MIDI program (48 = strings)"
        )
        parser.add_argument(
            "--out", required=True, help="output stem: writes <out>.mid, <out>.mp3 and <out>.flac"
        )

    def handle(self, *args, **options):
        if options["seconds"] <= 0 or options["tempo"] <= 0:
            raise CommandError("--seconds and --tempo must be positive")
        # Step-by-step sampling of small layers: more threads only wait on each other.
        torch.set_num_threads(1)
        try:
            model = load_model(options["checkpoint"])
        except CheckpointError as exc:
            raise CommandError(f"cannot use checkpoint {options['checkpoint']}: {exc}") from None
        if not isinstance(model, MelodyModel):
            raise CommandError(f"variant {model.variant!r} does not generate melodies")
        try:
            cue = compose_cue(
                model,
                options["chords"],
                seconds=options["seconds"],
                tempo_bpm=options["tempo"],
                beats_per_bar=options["beats_per_bar"],
                temperature=options["temperature"],
                sampling=Sampling.from_dict({} if options["top_p"] is None else {"top_p": options["top_p"]}),
                seed=options["seed"],
                accompaniment=options["accompaniment"],
                key=options["key"],
                melody_program=options["melody_program"],
                chord_program=options["chord_program"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        written = write_cue_files(cue, Path(options["out"]))
        bars = len(cue.chords) // (options["beats_per_bar"] * 4)
        first_bar = " ".join(chord_name(c) for c in cue.chords[: options["beats_per_bar"] * 4 : 4])
        self.stdout.write(
            f"{model.variant}: {bars} bars ({cue.seconds:.1f} s at {cue.tempo_bpm:g} bpm), first bar {first_bar}, "
            f"seed {options['seed']}"
        )
        for path in written:
            self.stdout.write(f"wrote {path}")
