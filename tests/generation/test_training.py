import json

import pytest
import torch
from safetensors.torch import load_file

from generation.checkpoints import load_model
from generation.music.encoding import HOLD
from generation.nets.base import build_model
from generation.training import TrainConfig, evaluate, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def scale_batches(seed: int):
    """A learnable toy language: rising scales of quarter notes, the chord says where they start."""
    g = torch.Generator().manual_seed(seed)
    while True:
        starts = torch.randint(0, 12, (8,), generator=g)
        melody = torch.full((8, 32), HOLD)
        for step in range(0, 32, 4):
            melody[:, step] = 60 + starts + step // 4
        yield {"melody": melody, "chords": starts.view(8, 1).expand(8, 32).clone()}


def validation():
    batches = scale_batches(999)
    return [next(batches) for _ in range(2)]


def run(tmp_path, name: str, **settings):
    torch.manual_seed(0)
    model = build_model("proposed", "tiny")
    config = TrainConfig(
        **{"steps": 40, "validate_every": 10, "save_every": 10, "checkpoint_steps": (), **settings}
    )
    return train(
        model,
        scale_batches(0),
        validation_batches=validation,
        config=config,
        out=tmp_path / name,
        progress=False,
        extra={"corpus": "scales"},
    )


def test_loss_falls_and_everything_is_recorded(tmp_path):
    torch.manual_seed(0)
    untrained = evaluate(build_model("proposed", "tiny"), validation(), torch.device("cpu"))
    result = run(tmp_path, "run", learning_rate=3e-3, checkpoint_steps=(20,))
    losses = [loss for _, loss in result.validation_losses]
    assert [s for s, _ in result.validation_losses] == [10, 20, 30, 40]
    assert untrained == pytest.approx(5.04, abs=0.1)  # ln(155): uniform over the vocabulary
    last = losses[-1]
    assert last < untrained - 3 and last < losses[0]
    assert len(result.train_losses) == 40
    sidecar = json.loads((tmp_path / "run.json").read_text())
    assert sidecar["variant"] == "proposed" and sidecar["steps"] == 40 and sidecar["corpus"] == "scales"
    assert len(sidecar["losses"]["train"]) == 40 and sidecar["losses"]["validation"][-1][0] == 40
    assert sidecar["final_validation_loss"] == pytest.approx(last, abs=1e-4)
    assert sidecar["training"]["learning_rate"] == 3e-3
    step20 = json.loads((tmp_path / "run-step20.json").read_text())
    assert step20["steps"] == 20 and len(step20["losses"]["train"]) == 20
    assert load_model(tmp_path / "run-step20.safetensors").variant == "proposed"


def test_same_seed_same_run(tmp_path):
    a = run(tmp_path, "a", steps=10)
    b = run(tmp_path, "b", steps=10)
    c = run(tmp_path, "c", steps=10, seed=1)
    assert a.train_losses == b.train_losses
    assert a.train_losses != c.train_losses  # the loop's seed drives dropout


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    whole = run(tmp_path, "whole", steps=20)
    run(tmp_path, "parts", steps=10)
    resumed = run(tmp_path, "parts", steps=20, resume=True)
    assert resumed.train_losses == whole.train_losses
    a, b = load_file(tmp_path / "whole.safetensors"), load_file(tmp_path / "parts.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_learning_rate_decays_every_100_steps(tmp_path):
    torch.manual_seed(0)
    model = build_model("lstm1", "tiny")
    seen = []
    original = model.training_loss

    def spy(batch):
        seen.append(model.train_step)
        return original(batch)

    model.training_loss = spy
    config = TrainConfig(steps=3, decay_every=1, lr_decay=0.5, learning_rate=1e-3, checkpoint_steps=())
    train(
        model, scale_batches(0), validation_batches=None, config=config, out=tmp_path / "lr", progress=False
    )
    assert seen == [1, 2, 3]
    state = json.loads((tmp_path / "lr.state.json").read_text())
    assert state["param_groups"][0]["lr"] == pytest.approx(1e-3 * 0.25)


def noise_validation():
    """Uniformly random tokens: a model scores best on them untrained, and worse the more it learns
    scales, so the first validation is the best one."""
    g = torch.Generator().manual_seed(5)
    return [{"melody": torch.randint(0, 128, (8, 32), generator=g), "chords": torch.zeros(8, 32).long()}]


def run_on_noise(tmp_path, name: str, batches=None, **settings):
    torch.manual_seed(0)
    config = TrainConfig(
        **{
            "steps": 40,
            "validate_every": 10,
            "save_every": 10,
            "checkpoint_steps": (10, 40),
            "learning_rate": 3e-3,
            **settings,
        }
    )
    return train(
        build_model("proposed", "tiny"),
        batches if batches is not None else scale_batches(0),
        validation_batches=noise_validation,
        config=config,
        out=tmp_path / name,
        progress=False,
    )


def weights_equal(a, b) -> bool:
    a, b = load_file(a), load_file(b)
    return all(torch.equal(a[k], b[k]) for k in a)


def test_keep_best_saves_the_best_validation_step_and_records_the_budget(tmp_path):
    result = run_on_noise(tmp_path, "best", keep_best=True)
    losses = dict(result.validation_losses)
    assert list(losses) == [10, 20, 30, 40] and min(losses, key=losses.get) == 10
    assert losses[40] > losses[10]  # learning scales made the noise less likely: a worse last step
    assert result.best_step == 10 and result.steps == 40 and result.stop_reason == "budget"
    assert result.final_validation_loss == losses[10]
    assert weights_equal(tmp_path / "best.safetensors", tmp_path / "best-step10.safetensors")
    assert not weights_equal(tmp_path / "best.safetensors", tmp_path / "best-step40.safetensors")
    sidecar = json.loads((tmp_path / "best.json").read_text())
    budget = sidecar["budget"]
    assert {k: v for k, v in budget.items() if k != "wall_seconds"} == {
        "examples": 40 * 512,  # TrainConfig's batch_size is recorded, whatever the batches hold
        "examples_seen": 40 * 512,
        "steps_planned": 40,
        "steps_run": 40,
        "batch_size": 512,
        "saved_step": 10,
        "best_step": 10,
        "best_validation_loss": pytest.approx(losses[10], abs=1e-9),
        "stop_reason": "budget",
    }
    assert budget["wall_seconds"] >= 0 and sidecar["final_validation_loss"] == pytest.approx(losses[10])
    assert len(sidecar["losses"]["train"]) == 40  # the curves are the whole run's
    assert not (tmp_path / "best-best.safetensors").exists()  # the in-run copy is gone once it ends
    assert load_model(tmp_path / "best").variant == "proposed"


def test_without_keep_best_the_last_step_is_saved(tmp_path):
    result = run_on_noise(tmp_path, "last")
    assert result.best_step is None and result.final_validation_loss == result.validation_losses[-1][1]
    assert weights_equal(tmp_path / "last.safetensors", tmp_path / "last-step40.safetensors")
    assert json.loads((tmp_path / "last.json").read_text())["budget"]["saved_step"] == 40


def test_patience_stops_after_that_many_validations_without_a_new_best(tmp_path):
    result = run_on_noise(tmp_path, "stop", keep_best=True, patience=2)
    assert result.steps == 30 and result.stop_reason == "patience"  # 20 and 30 did not beat 10
    assert [s for s, _ in result.validation_losses] == [10, 20, 30] and len(result.train_losses) == 30
    assert result.best_step == 10
    assert weights_equal(tmp_path / "stop.safetensors", tmp_path / "stop-step10.safetensors")
    budget = json.loads((tmp_path / "stop.json").read_text())["budget"]
    assert (budget["steps_run"], budget["steps_planned"], budget["examples_seen"], budget["stop_reason"]) == (
        30,
        40,
        30 * 512,
        "patience",
    )
    # resuming a run that patience stopped trains no further
    again = run_on_noise(tmp_path, "stop", keep_best=True, patience=2, resume=True)
    assert again.steps == 30 and again.stop_reason == "patience" and again.train_losses == result.train_losses


def test_min_delta_counts_a_small_gain_as_no_gain(tmp_path):
    steady = run_on_noise(tmp_path, "steady", learning_rate=0.0, patience=2)  # the loss never moves
    assert steady.stop_reason == "patience" and steady.steps == 30  # 20 and 30 tie with 10: no new best
    falling = run(tmp_path, "falling", learning_rate=3e-3, patience=1, min_delta=10.0)
    assert falling.stop_reason == "patience" and falling.steps == 20  # falling, but never by 10 nats


class Interrupted(Exception):
    pass


def interrupted_after(count: int):
    batches = scale_batches(0)
    for _ in range(count):
        yield next(batches)
    raise Interrupted


def test_an_interrupted_keep_best_run_resumes_to_the_same_end(tmp_path):
    whole = run_on_noise(tmp_path, "whole", keep_best=True, patience=3)  # 3 would stop it only at 40: the end
    with pytest.raises(Interrupted):
        run_on_noise(tmp_path, "parts", batches=interrupted_after(25), keep_best=True, patience=3)
    assert (tmp_path / "parts-best.safetensors").exists()  # the best so far, for the resume
    resumed = run_on_noise(tmp_path, "parts", keep_best=True, patience=3, resume=True)
    assert resumed.train_losses == whole.train_losses
    assert resumed.validation_losses == whole.validation_losses
    assert (resumed.best_step, resumed.steps, resumed.stop_reason) == (whole.best_step, whole.steps, "budget")
    assert weights_equal(tmp_path / "whole.safetensors", tmp_path / "parts.safetensors")


def test_stopping_settings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="patience must be at least 1"):
        run_on_noise(tmp_path, "bad", patience=0)
    model = build_model("proposed", "tiny")
    with pytest.raises(ValueError, match="need validation batches"):
        train(
            model,
            scale_batches(0),
            validation_batches=None,
            config=TrainConfig(steps=2, keep_best=True, checkpoint_steps=()),
            out=tmp_path / "none",
            progress=False,
        )
    assert not (tmp_path / "none.safetensors").exists() and not (tmp_path / "bad.safetensors").exists()
