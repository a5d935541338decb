"""`python manage.py train_pretrained [--budget N] [--only ...]`: retrain the committed melody checkpoints
(generation/pretrained) on one budget of examples, one seed and one corpus; `--table` prints the
docs/generation.md table of what their sidecars record.

Every variant goes through the one recipe (generation.recipes.budget_config + train_variant): same corpus,
same split, same downbeat windows and 12-key transposition, validation every `--validate-examples`
examples, stopping after `--patience` validations without a new best, the best validation step kept.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import torch
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from generation.checkpoints import CheckpointError, checkpoint_paths, read_sidecar, state_paths
from generation.music.corpus import CorpusError
from generation.paths import PRETRAINED_DIR
from generation.recipes import PRETRAINED_VARIANTS, Budget, budget_config, train_variant

TABLE_HEADER = (
    "| variant | params | budget (examples) | batch | steps run / planned | examples seen | best step "
    "| best validation loss | stopped by | wall time |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def budget_row(variant: str, sidecar: dict) -> str:
    """One table row from a checkpoint's sidecar; a sidecar without a budget (older training) says so."""
    budget = sidecar.get("budget")
    params = f"{sidecar.get('parameters', 0):,}"
    if not budget:
        losses = sidecar.get("losses", {}).get("validation") or [[None, None]]
        batch = sidecar.get("training", {}).get("batch_size")
        steps = sidecar.get("steps")
        return (
            f"| {variant} | {params} | (earlier training: no budget recorded) | {batch} | {steps} / {steps} | "
            f"{f'{steps * batch:,}' if steps and batch else '?'} | (last) {losses[-1][0]} | "
            f"{sidecar.get('final_validation_loss', float('nan')):.3f} | - | - |"
        )
    loss = budget["best_validation_loss"]
    minutes = budget["wall_seconds"] / 60
    return (
        f"| {variant} | {params} | {budget['examples']:,} | {budget['batch_size']} | "
        f"{budget['steps_run']} / {budget['steps_planned']} | {budget['examples_seen']:,} | "
        f"{budget['best_step']} | {loss:.3f} | {budget['stop_reason']} | {minutes:.1f} min |"
    )


class Command(BaseCommand):
    help = (
        "Retrain every committed melody checkpoint on one budget of examples (or print their budget table)."
    )

    def add_arguments(self, parser):
        defaults = Budget()
        parser.add_argument(
            "--budget",
            type=int,
            default=defaults.examples,
            help="training examples per checkpoint (windows; events for the Bi-LSTM)",
        )
        parser.add_argument("--validate-examples", type=int, default=defaults.validate_examples)
        parser.add_argument(
            "--patience",
            type=int,
            default=defaults.patience,
            help="validations without a new best before a run stops (0: never stop early)",
        )
        parser.add_argument("--only", nargs="+", choices=PRETRAINED_VARIANTS, help="default: all")
        parser.add_argument("--preset", default="small", choices=["tiny", "small", "paper"])
        parser.add_argument("--corpus", default="chorales")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out-dir", help="default generation/pretrained")
        parser.add_argument("--resume", action="store_true", help="continue interrupted runs in --out-dir")
        parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
        parser.add_argument("--table", action="store_true", help="print the budget table and train nothing")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        variants = options["only"] or list(PRETRAINED_VARIANTS)
        out_dir = Path(options["out_dir"]) if options["out_dir"] else PRETRAINED_DIR
        out_dir_text = options["out_dir"] or "generation/pretrained"
        if options["table"]:
            self.print_table(variants, out_dir)
            return
        try:
            budget = Budget(
                examples=options["budget"],
                validate_examples=options["validate_examples"],
                patience=options["patience"] or None,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        out_dir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(options["threads"])
        progress = not options["no_progress"]
        for variant in tqdm(variants, desc="checkpoints", unit="model", disable=not progress):
            config = budget_config(
                variant, options["preset"], budget, seed=options["seed"], resume=options["resume"]
            )
            out = out_dir / variant
            command = (
                f"python manage.py train_pretrained --only {variant} --budget {budget.examples} "
                f"--validate-examples {budget.validate_examples} --patience {budget.patience or 0} "
                f"--preset {options['preset']} --corpus {shlex.quote(options['corpus'])} "
                f"--seed {options['seed']} --out-dir {shlex.quote(out_dir_text)}"
            )
            try:
                result = train_variant(
                    variant,
                    preset=options["preset"],
                    corpus=options["corpus"],
                    config=config,
                    out=out,
                    command=command,
                    progress=progress,
                )
            except (CorpusError, CheckpointError, ValueError) as exc:
                raise CommandError(f"{variant}: {exc}") from None
            for path in state_paths(out):  # only --resume of an unfinished run needs them
                path.unlink(missing_ok=True)
            self.stdout.write(
                f"{variant}: {result.steps} of {config.steps} steps at batch {config.batch_size} "
                f"({result.stop_reason}), best validation loss {result.final_validation_loss:.4f} "
                f"at step {result.best_step}, {result.wall_seconds / 60:.1f} min; saved {result.path}"
            )

    def print_table(self, variants: list[str], out_dir: Path) -> None:
        self.stdout.write(TABLE_HEADER)
        for variant in variants:
            weights, _ = checkpoint_paths(out_dir / variant)
            if not weights.exists():
                raise CommandError(f"no checkpoint {weights}: train it with --only {variant}")
            self.stdout.write(budget_row(variant, read_sidecar(weights)))
