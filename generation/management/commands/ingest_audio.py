"""`python manage.py ingest_audio FOLDER --corpus NAME`: recordings -> a corpus the train command accepts."""

from __future__ import annotations

import torch
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from generation.checkpoints import CheckpointError, load_model
from generation.music.corpus import CorpusError, save_corpus
from generation.separation.ingest import audio_files, ingest_folder


class Command(BaseCommand):
    help = (
        "Separate every recording in FOLDER, track its melody, beats and chords, and save the result in the "
        "paper's encoding as corpus NAME (train with --corpus NAME)."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--corpus", required=True, help="name of the corpus to save (no slashes)")
        parser.add_argument(
            "--checkpoint", default="separation", help="default: the committed separation model"
        )
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        torch.set_num_threads(options["threads"])
        if not audio_files(options["folder"]):
            raise CommandError(f"{options['folder']} holds no audio files")
        try:
            model = load_model(options["checkpoint"])
        except CheckpointError as error:
            raise CommandError(str(error)) from None
        result = ingest_folder(
            options["folder"],
            model,
            wrap=lambda files: tqdm(files, desc="ingest", unit="file", disable=options["no_progress"]),
        )
        for name, reason in result.skipped:
            self.stderr.write(f"skipped {name}: {reason}")
        if not result.pieces:
            raise CommandError("no recording gave a melody; nothing was saved")
        try:
            path = save_corpus(options["corpus"], result.pieces)
        except CorpusError as error:
            raise CommandError(str(error)) from None
        steps = sum(len(p.melody) for p in result.pieces)
        self.stdout.write(
            f"saved corpus {options['corpus']!r} ({len(result.pieces)} pieces, {steps} steps, "
            f"{len(result.skipped)} skipped) to {path}"
        )
