"""`manage.py train_pretrained`: every committed melody checkpoint on one budget, and its table."""

import io
import json

import pytest
import torch
from django.core.management import CommandError, call_command

from generation.checkpoints import load_model
from generation.paths import PRETRAINED_DIR

pytestmark = pytest.mark.usefixtures("corpus_env")


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


TINY = ("--preset", "tiny", "--corpus", "chorales:10", "--no-progress")


def test_every_family_gets_the_same_budget_of_examples_and_the_table_says_so(tmp_path):
    printed = run(
        "train_pretrained", *TINY, "--budget", "64", "--validate-examples", "16", "--patience", "3",
        "--only", "proposed", "bilstm", "--out-dir", str(tmp_path),
    )  # fmt: skip
    sidecars = {v: json.loads((tmp_path / f"{v}.json").read_text()) for v in ("proposed", "bilstm")}
    proposed, bilstm = sidecars["proposed"]["budget"], sidecars["bilstm"]["budget"]
    assert (proposed["batch_size"], proposed["steps_planned"]) == (4, 16)  # the tiny presets' batches
    assert (bilstm["batch_size"], bilstm["steps_planned"]) == (8, 8)
    assert proposed["examples"] == bilstm["examples"] == 64
    for variant, sidecar in sidecars.items():
        budget = sidecar["budget"]
        assert budget["examples_seen"] == budget["steps_run"] * budget["batch_size"] <= 64
        assert budget["stop_reason"] in {"budget", "patience"}
        assert budget["saved_step"] == budget["best_step"]  # keep-best
        assert sidecar["final_validation_loss"] == pytest.approx(budget["best_validation_loss"])
        assert sidecar["training"]["validate_every"] * budget["batch_size"] == 16
        assert sidecar["seed"] == 0 and sidecar["corpus"] == "chorales:10"
        assert sidecar["command"].startswith(
            f"python manage.py train_pretrained --only {variant} --budget 64"
        )
        assert load_model(tmp_path / variant).variant == variant
        assert f"{variant}: " in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bilstm.json", "bilstm.safetensors", "proposed.json", "proposed.safetensors"
    ]  # fmt: skip  # no resume state, no best-so-far copies, no step checkpoints

    table = run("train_pretrained", "--table", "--only", "proposed", "bilstm", "--out-dir", str(tmp_path))
    lines = table.strip().splitlines()
    assert lines[0].startswith("| variant | params | budget (examples) | batch | steps run / planned")
    assert len(lines) == 4 and lines[2].startswith("| proposed |") and lines[3].startswith("| bilstm |")
    row = [cell.strip() for cell in lines[3].strip("|").split("|")]
    assert row[2:6] == ["64", "8", f"{bilstm['steps_run']} / 8", str(bilstm["examples_seen"])]
    assert row[7] == f"{bilstm['best_validation_loss']:.3f}"


def test_table_of_a_missing_checkpoint_and_a_bad_budget_are_clear_errors(tmp_path):
    with pytest.raises(
        CommandError, match="no checkpoint .*proposed.safetensors: train it with --only proposed"
    ):
        run("train_pretrained", "--table", "--only", "proposed", "--out-dir", str(tmp_path))
    with pytest.raises(CommandError, match="at least one example"):
        run("train_pretrained", *TINY, "--budget", "0", "--out-dir", str(tmp_path / "new"))
    assert not (tmp_path / "new").exists()  # nothing written
    with pytest.raises(CommandError, match="invalid choice"):
        run("train_pretrained", "--only", "separation", "--out-dir", str(tmp_path))


def test_the_table_reads_the_committed_checkpoints():
    table = run("train_pretrained", "--table")
    assert len(table.strip().splitlines()) == 2 + 9
    assert all(f"| {variant} |" in table for variant in ("proposed", "wavenet", "bilstm", "ec2vae", "vded"))
    assert PRETRAINED_DIR.name == "pretrained"
