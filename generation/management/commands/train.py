"""`python manage.py train <variant> --preset small`: the one training recipe (generation/recipes.py) for
any registered network."""

from __future__ import annotations

import shlex
from pathlib import Path

import torch
from django.core.management.base import BaseCommand, CommandError

from generation.checkpoints import CheckpointError
from generation.music.corpus import CorpusError
from generation.nets.base import PRESET_NAMES, UnknownVariantError, get_variant
from generation.paths import var_dir
from generation.recipes import train_config, train_variant


def parse_steps(text: str) -> tuple[int, ...]:
    try:
        return tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise CommandError(f"--checkpoint-steps takes comma-separated integers, not {text!r}") from None


class Command(BaseCommand):
    help = (
        "Train a registered network (proposed, unilstm, gru, rnn, lstm1, wavenet, ...) and save a checkpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument("variant", help="registry key, e.g. proposed")
        parser.add_argument("--preset", choices=PRESET_NAMES, default="small")
        parser.add_argument(
            "--corpus",
            default="chorales",
            help="chorales, chorales:N (first N pieces), a MIDI folder, or a saved name",
        )
        parser.add_argument("--steps", type=int, help="training steps (default: the preset's)")
        parser.add_argument("--batch-size", type=int, help="default: the preset's")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--out",
            help="checkpoint stem (default <var>/checkpoints/<variant>-<preset>; <var> is $DOCBGM_VAR_DIR or var/)",
        )
        parser.add_argument("--resume", action="store_true", help="continue from the checkpoint at --out")
        parser.add_argument(
            "--init-from",
            help="fine-tune: start from this checkpoint's weights (same variant and preset; a path or "
            "a variant key for the committed model), with a new optimizer and schedule",
        )
        parser.add_argument("--checkpoint-steps", help="extra checkpoints, e.g. 500,1000,2000")
        parser.add_argument("--lr", type=float, help="RMSProp learning rate (default 5e-4)")
        parser.add_argument(
            "--decay-every",
            type=int,
            help="multiply the learning rate by 0.96 every this many steps (default 100, the paper's)",
        )
        parser.add_argument(
            "--patience",
            type=int,
            help="stop after this many validations without a new best (default: never)",
        )
        parser.add_argument(
            "--keep-best", action="store_true", help="save the best validation step's weights, not the last"
        )
        parser.add_argument(
            "--bar-position",
            action="store_true",
            help="condition on the position in the bar too (melody models; default: the paper's input)",
        )
        parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        parser.add_argument(
            "--threads", type=int, default=2, help="torch CPU threads (the machine is shared)"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        try:
            cls = get_variant(options["variant"])
        except UnknownVariantError as exc:
            raise CommandError(str(exc)) from None
        preset = options["preset"]
        overrides = {
            field: options[option]
            for option, field in (
                ("steps", "steps"),
                ("batch_size", "batch_size"),
                ("lr", "learning_rate"),
                ("decay_every", "decay_every"),
            )
            if options[option] is not None
        }
        if options["checkpoint_steps"] is not None:
            overrides["checkpoint_steps"] = parse_steps(options["checkpoint_steps"])
        config = train_config(
            cls.variant,
            preset,
            **overrides,
            seed=options["seed"],
            device=options["device"],
            resume=options["resume"],
            patience=options["patience"],
            keep_best=options["keep_best"],
        )
        out = Path(options["out"] or var_dir() / "checkpoints" / f"{cls.variant}-{preset}")
        command = (
            f"python manage.py train {cls.variant} --preset {preset} --corpus {shlex.quote(options['corpus'])} "
            f"--steps {config.steps} --batch-size {config.batch_size} --seed {config.seed} "
            f"--lr {config.learning_rate} --out {shlex.quote(str(options['out'] or out))}"
            + (f" --decay-every {config.decay_every}" if options["decay_every"] is not None else "")
            + (
                f" --checkpoint-steps {','.join(map(str, config.checkpoint_steps))}"
                if config.checkpoint_steps
                else ""
            )
            + (f" --patience {config.patience}" if config.patience is not None else "")
            + (" --keep-best" if config.keep_best else "")
            + (" --bar-position" if options["bar_position"] else "")
            + (f" --init-from {shlex.quote(options['init_from'])}" if options["init_from"] else "")
            + (" --resume" if config.resume else "")
        )

        torch.set_num_threads(options["threads"])
        try:
            result = train_variant(
                cls.variant,
                preset=preset,
                corpus=options["corpus"],
                config=config,
                out=out,
                command=command,
                progress=not options["no_progress"],
                model_options={"bar_position": True} if options["bar_position"] else None,
                init_from=options["init_from"],
            )
        except (CorpusError, CheckpointError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        parameters = sum(p.numel() for p in result.model.parameters())
        self.stdout.write(
            f"{cls.variant} ({preset}, {parameters:,} parameters): {result.steps} steps, "
            f"train loss {result.train_losses[-1]:.4f}, validation loss {result.final_validation_loss:.4f}"
            + (f" (best, step {result.best_step})" if result.best_step is not None else "")
            + f", stopped by {result.stop_reason}"
        )
        self.stdout.write(f"saved {result.path} and {result.path.with_suffix('.json')}")
