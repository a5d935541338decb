"""generation/recipes.py: the one training recipe that the train command and the experiments share."""

import json

import pytest
import torch

from generation.evaluation.experiments import Settings, step_checkpoints
from generation.nets.bilstm import BiLSTMConfig
from generation.recipes import PRETRAINED_VARIANTS, Budget, budget_config, train_config, train_variant
from generation.training import TrainConfig

pytestmark = pytest.mark.usefixtures("corpus_env", "one_torch_thread")


def sidecar(path):
    return json.loads(path.with_suffix(".json").read_text())


def test_train_config_is_defaults_then_preset_then_overrides():
    config = train_config("bilstm", "small", steps=7, checkpoint_steps=[3])
    preset = BiLSTMConfig.TRAINING["small"]
    assert (
        (config.batch_size, config.learning_rate, config.validate_every)
        == (32, 1e-3, 200)
        == (
            preset["batch_size"],
            preset["learning_rate"],
            preset["validate_every"],
        )
    )
    assert config.steps == 7 and config.checkpoint_steps == (3,)
    assert config.grad_clip == TrainConfig().grad_clip  # untouched fields keep the loop's defaults


def test_train_variant_seeds_the_network_and_records_how_it_was_made(tmp_path):
    config = train_config("proposed", "tiny", steps=4, batch_size=4, validate_every=2, checkpoint_steps=())
    first = train_variant(
        "proposed",
        preset="tiny",
        corpus="chorales:10",
        config=config,
        out=tmp_path / "a",
        command="x",
        progress=False,
    )
    again = train_variant(
        "proposed",
        preset="tiny",
        corpus="chorales:10",
        config=config,
        out=tmp_path / "b",
        command="x",
        progress=False,
    )
    assert first.train_losses == again.train_losses and len(first.train_losses) == 4
    assert all(
        torch.equal(a, b)
        for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values())
    )
    assert [step for step, _ in first.validation_losses] == [2, 4]
    written = sidecar(first.path)
    assert {k: written[k] for k in ("preset", "corpus", "seed", "command")} == {
        "preset": "tiny",
        "corpus": "chorales:10",
        "seed": 0,
        "command": "x",
    }
    assert written["split"].endswith("0 heldout, 1 validation, else train")


def test_checkpoints_the_experiments_train_carry_the_split_too(tmp_path):
    settings = Settings(
        out=tmp_path, corpus="chorales:10", preset="tiny", checkpoint_dirs=(), log=lambda _: None
    )
    found = step_checkpoints("rnn", (2, 3), settings)
    assert sorted(found) == [2, 3] and all(path.exists() for path in found.values())
    written = sidecar(found[2])
    assert written["steps"] == 2 and written["command"] == "evaluate" and written["preset"] == "tiny"
    assert written["split"].endswith("0 heldout, 1 validation, else train")
    assert written["losses"]["validation"] == []  # the experiments train without a validation pass


def test_budget_config_turns_one_budget_of_examples_into_each_familys_steps():
    budget = Budget(examples=32_000, validate_examples=1_600, patience=5)
    proposed = budget_config("proposed", "small", budget)
    bilstm = budget_config("bilstm", "small", budget)
    assert (proposed.batch_size, proposed.steps, proposed.validate_every) == (16, 2000, 100)
    assert (bilstm.batch_size, bilstm.steps, bilstm.validate_every) == (32, 1000, 50)
    for config in (proposed, bilstm):
        assert config.steps * config.batch_size == 32_000
        assert config.patience == 5 and config.keep_best and config.checkpoint_steps == ()
        assert config.save_every == config.validate_every
    assert budget_config("proposed", "small", Budget(examples=100)).steps == 7  # rounded up: ceil(100 / 16)
    assert set(PRETRAINED_VARIANTS) == {
        "proposed",
        "unilstm",
        "gru",
        "rnn",
        "lstm1",
        "wavenet",
        "bilstm",
        "ec2vae",
        "vded",
    }


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"examples": 0}, "at least one example"),
        ({"validate_examples": 0}, "at least one example"),
        ({"patience": 0}, "patience must be at least 1"),
    ],
)
def test_a_budget_that_cannot_train_is_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        Budget(**fields)


def _train_tiny(out, *, init_from=None, preset="tiny", seed=0, steps=2):
    config = train_config(
        "proposed", preset, steps=steps, batch_size=4, validate_every=2, checkpoint_steps=(), seed=seed
    )
    return train_variant(
        "proposed",
        preset=preset,
        corpus="chorales:10",
        config=config,
        out=out,
        command="x",
        progress=False,
        init_from=init_from,
    )


def test_init_from_fine_tunes_a_checkpoints_weights_and_records_them(tmp_path):
    from generation.checkpoints import sha256_file

    base = _train_tiny(tmp_path / "base", steps=3)
    fresh = _train_tiny(tmp_path / "fresh", seed=5)
    tuned = _train_tiny(tmp_path / "tuned", seed=5, init_from=base.path)
    # it starts from the base weights, not the seed's init: its first loss is the base's last loss region
    assert tuned.train_losses[0] != fresh.train_losses[0]
    base_state, tuned_state = base.model.state_dict(), tuned.model.state_dict()
    assert any(not torch.equal(base_state[k], tuned_state[k]) for k in base_state)  # and it trained on
    recorded = sidecar(tuned.path)["init_from"]
    assert recorded == {"checkpoint": str(base.path), "weights_sha256": sha256_file(base.path)}
    assert "init_from" not in sidecar(fresh.path)
    assert sidecar(tuned.path)["steps"] == 2  # a new run: its own step count, the schedule from step 1


def test_init_from_starts_exactly_at_the_checkpoints_weights(tmp_path):
    base = _train_tiny(tmp_path / "base", steps=2)
    zero = _train_tiny(tmp_path / "zero", steps=0, seed=9, init_from=base.path)
    assert all(
        torch.equal(a, b) for a, b in zip(base.model.state_dict().values(), zero.model.state_dict().values())
    )


def test_init_from_refuses_another_variant_or_config(tmp_path):
    from generation.checkpoints import CheckpointError

    base = _train_tiny(tmp_path / "base", steps=1)
    with pytest.raises(CheckpointError, match="another config"):
        _train_tiny(tmp_path / "small", preset="small", init_from=base.path)
    config = train_config("unilstm", "tiny", steps=1, batch_size=4, validate_every=1, checkpoint_steps=())
    with pytest.raises(CheckpointError, match="'proposed' checkpoint, not a 'unilstm' one"):
        train_variant(
            "unilstm",
            preset="tiny",
            corpus="chorales:10",
            config=config,
            out=tmp_path / "other",
            command="x",
            progress=False,
            init_from=base.path,
        )
    assert not (tmp_path / "small.safetensors").exists() and not (tmp_path / "other.safetensors").exists()
