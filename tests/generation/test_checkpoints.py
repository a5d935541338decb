import json
import pickle

import pytest
import torch

from generation.checkpoints import (
    CheckpointError,
    checkpoint_paths,
    load_model,
    read_sidecar,
    resolve_checkpoint,
    save_checkpoint,
    store_half,
    validate_checkpoint,
)
from generation.music.encoding import ENCODING_VERSION
from generation.nets.base import build_model


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model("proposed", "tiny").eval()
    weights = save_checkpoint(model, tmp_path / "model", extra={"corpus": "chorales", "seed": 0})
    return model, weights


def edit_sidecar(weights, **changes):
    _, sidecar_path = checkpoint_paths(weights)
    sidecar = json.loads(sidecar_path.read_text())
    sidecar.update(changes)
    sidecar_path.write_text(json.dumps(sidecar))


def test_round_trip_rebuilds_the_same_network(saved):
    model, weights = saved
    assert weights.name == "model.safetensors" and weights.with_suffix(".json").exists()
    melody = torch.randint(50, 80, (2, 16))
    chords = torch.randint(0, 25, (2, 16))
    for path in (weights, weights.with_suffix(".json"), weights.with_suffix("")):
        loaded = load_model(path)
        assert torch.equal(loaded(melody, chords), model(melody, chords))
    sidecar = read_sidecar(weights)
    assert sidecar["variant"] == "proposed" and sidecar["encoding_version"] == ENCODING_VERSION
    assert sidecar["config"]["layers"] == 2 and sidecar["corpus"] == "chorales" and sidecar["code_version"]


def test_refuses_a_pickle(tmp_path, saved):
    model, weights = saved
    torch.save(model.state_dict(), weights)
    with pytest.raises(CheckpointError, match="torch.save"):
        load_model(weights)
    weights.write_bytes(pickle.dumps(model.state_dict()))
    with pytest.raises(CheckpointError, match="pickle"):
        validate_checkpoint(weights, read_sidecar(weights))


def test_refuses_a_truncated_file(saved):
    _, weights = saved
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        validate_checkpoint(weights, read_sidecar(weights))
    weights.write_bytes(data[:5])
    with pytest.raises(CheckpointError, match="truncated"):
        validate_checkpoint(weights, read_sidecar(weights))


def test_refuses_shapes_that_do_not_match(saved):
    _, weights = saved
    sidecar = read_sidecar(weights)
    sidecar["config"]["hidden"] = 24
    with pytest.raises(CheckpointError, match="shapes do not match"):
        validate_checkpoint(weights, sidecar)


def test_refuses_unknown_variant_and_other_encoding_version(saved):
    _, weights = saved
    edit_sidecar(weights, variant="musicgen")
    with pytest.raises(CheckpointError, match="unknown variant 'musicgen'"):
        load_model(weights)
    edit_sidecar(weights, variant="proposed", encoding_version=ENCODING_VERSION + 1)
    with pytest.raises(CheckpointError, match="encoding version"):
        load_model(weights)


def test_refuses_missing_or_foreign_sidecar_and_swapped_weights(tmp_path, saved):
    model, weights = saved
    other = save_checkpoint(build_model("proposed", "tiny"), tmp_path / "other")
    weights.write_bytes(other.read_bytes())
    with pytest.raises(CheckpointError, match="sha256"):
        load_model(weights)
    weights.with_suffix(".json").write_text('{"hello": 1}')
    with pytest.raises(CheckpointError, match="not a docbgm checkpoint"):
        load_model(weights)
    weights.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_model(weights)


def test_a_variant_key_means_the_committed_checkpoint():
    path = resolve_checkpoint("proposed")
    assert path.name == "proposed.safetensors" and path.parent.name == "pretrained"
    sidecar = read_sidecar(path)
    # Made by the one-budget retraining of every committed melody checkpoint (docs/generation.md).
    assert sidecar["command"].startswith("python manage.py train_pretrained --only proposed")
    assert (
        sidecar["preset"] == "small" and sidecar["budget"]["examples_seen"] == sidecar["budget"]["examples"]
    )
    assert path.stat().st_size < 5_000_000
    assert load_model("proposed").variant == "proposed"
    with pytest.raises(CheckpointError, match="no committed checkpoint"):
        resolve_checkpoint("separation-xl")


def test_accepts_safetensors_whose_header_length_begins_with_byte_0x80(saved):
    """A header length such as 3456 (0x0D80) starts with the pickle protocol byte; it is still safetensors."""
    from safetensors.torch import load_file, save_file

    model, weights = saved
    tensors = load_file(str(weights))
    for pad in range(0, 4096):
        save_file(tensors, str(weights), metadata={"pad": "x" * pad})
        if weights.read_bytes()[:1] == b"\x80":
            break
    assert weights.read_bytes()[:1] == b"\x80"
    sidecar = read_sidecar(weights)
    sidecar.pop("weights_sha256", None)
    loaded = validate_checkpoint(weights, sidecar)
    melody = torch.randint(50, 80, (1, 8))
    chords = torch.randint(0, 25, (1, 8))
    assert torch.equal(loaded(melody, chords), model(melody, chords))


def test_store_half_halves_the_file_and_loads_back_as_float32(saved, tmp_path):
    model, weights = saved
    half = store_half(weights, tmp_path / "half" / "model")
    assert half.stat().st_size < 0.6 * weights.stat().st_size
    sidecar = read_sidecar(half)
    assert sidecar["weights_dtype"].startswith("float16") and sidecar["corpus"] == "chorales"
    loaded = load_model(half)  # checks the recorded sha256 against the new file
    for name, tensor in loaded.state_dict().items():
        assert tensor.dtype == model.state_dict()[name].dtype
        torch.testing.assert_close(tensor, model.state_dict()[name], atol=1e-3, rtol=1e-3)
    assert read_sidecar(weights).get("weights_dtype") is None  # the source is untouched
