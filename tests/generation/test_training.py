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
