"""`python manage.py separate input.wav --out DIR`: write the bass, drums, music and vocals stems.

The stems have the input's sample rate and channels, and add up to the input (the model's masks are
applied to the input's own STFT: generation/separation/inference.py)."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf
import torch
from django.core.management.base import BaseCommand, CommandError

from generation.audio import AudioError, read_audio
from generation.checkpoints import CheckpointError, load_model
from generation.nets.separation import SOURCES
from generation.separation.inference import separate_at_rate


class Command(BaseCommand):
    help = "Separate a recording into bass, drums, music and vocals with the RNN separation model."

    def add_arguments(self, parser):
        parser.add_argument("input", help="an audio file (wav, flac, ogg, mp3)")
        parser.add_argument(
            "--out",
            required=True,
            help="folder for bass.wav, drums.wav, music.wav, vocals.wav (at the input's rate)",
        )
        parser.add_argument(
            "--checkpoint",
            default="separation",
            help="checkpoint path (default: the committed separation model)",
        )
        parser.add_argument(
            "--threads", type=int, default=2, help="torch CPU threads (the machine is shared)"
        )

    def handle(self, *args, **options):
        torch.set_num_threads(options["threads"])
        try:
            model = load_model(options["checkpoint"])
            samples, rate = read_audio(options["input"])
        except (CheckpointError, AudioError) as error:
            raise CommandError(str(error)) from None
        if getattr(model, "variant", "") != "separation":
            raise CommandError(
                f"{options['checkpoint']} is a {model.variant!r} checkpoint, not a separation one"
            )
        if samples.size == 0:
            raise CommandError(f"{options['input']} holds no samples")
        stems = separate_at_rate(model, samples.T, rate)  # (channels, 4, n): each channel on its own
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        for index, source in enumerate(SOURCES):
            path = out / f"{source}.wav"
            sf.write(path, stems[:, index].T, rate, subtype="FLOAT")
            self.stdout.write(f"wrote {path}")
