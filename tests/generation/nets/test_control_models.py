"""The listening study's control models: Bi-LSTM, EC2-VAE and VD-ED (generation/nets/{bilstm,ec2vae,vded}.py).

Each is exercised through the same interface as every melody model: registry, common batch,
generate over a progression, the checkpoint format.
"""

import math

import numpy as np
import pytest
import torch

from generation.checkpoints import load_model, save_checkpoint
from generation.music.encoding import HOLD, MIDI_PITCHES, NO_CHORD, REST, parse_chord
from generation.music.tokens import PAD_TOKEN, event_id, piece_to_events
from generation.nets.base import build_model, get_variant
from generation.nets.bilstm import BiLSTM, event_windows
from generation.nets.ec2vae import (
    EC2VAE,
    ROLL_HOLD,
    ROLL_REST,
    from_roll,
    rhythm_of,
    teacher_forcing_ratio,
    to_roll,
)
from generation.nets.vded import VDED
from generation.sampling import parse_progression, sample_melody

CONTROL_VARIANTS = ["bilstm", "ec2vae", "vded"]
STEPS_PER_BAR = 16
BARS = 16


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def progression(bars: int = BARS) -> torch.Tensor:
    """A 16-bar I-vi-IV-V loop, one chord per bar, on the 16th grid: (bars * 16,)."""
    names = ["C", "Am", "F", "G"]
    return torch.tensor([parse_chord(names[bar % 4]) for bar in range(bars) for _ in range(STEPS_PER_BAR)])


def scale_batch(batch: int = 4, steps: int = 100, seed: int = 0) -> dict[str, torch.Tensor]:
    """Common batches of real-looking melodies: C-major scale fragments in eighth notes with rests."""
    rng = np.random.default_rng(seed)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    melody = np.empty((batch, steps), dtype=np.int64)
    for row in range(batch):
        for step in range(0, steps, 2):
            melody[row, step] = REST if rng.random() < 0.15 else scale[rng.integers(len(scale))]
            if step + 1 < steps:
                melody[row, step + 1] = REST if melody[row, step] == REST else HOLD
    chords = np.array([[parse_chord("C")] * 16 + [parse_chord("G")] * 16] * 4)[:, :steps]
    chords = np.resize(chords, (batch, steps))
    return {"melody": torch.from_numpy(melody), "chords": torch.from_numpy(chords)}


def tiny(variant: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(variant, "tiny")


def assert_playable(melody: torch.Tensor) -> None:
    tokens = melody.tolist()
    assert all(t < MIDI_PITCHES or t in (REST, HOLD) for t in tokens), "a pitch slot 128-152 was emitted"
    assert tokens[0] != HOLD, "a hold at the first step"
    for before, after in zip(tokens, tokens[1:], strict=False):
        assert not (before == REST and after == HOLD), "a hold right after a rest"


# ------------------------------------------------------------------------------------ shared interface


@pytest.mark.parametrize(("variant", "cls"), [("bilstm", BiLSTM), ("ec2vae", EC2VAE), ("vded", VDED)])
def test_registered_and_built_from_every_preset(variant, cls):
    assert get_variant(variant) is cls
    assert cls.variant == variant
    sizes = {
        name: sum(p.numel() for p in build_model(variant, name).parameters()) for name in ("tiny", "small")
    }
    assert sizes["tiny"] < 100_000 < sizes["small"] < 1_500_000  # small stays a few MB on disk
    assert set(cls.Config.PRESETS) == {"tiny", "small", "paper"}


@pytest.mark.parametrize("variant", CONTROL_VARIANTS)
def test_training_loss_on_the_common_batch_learns(variant):
    model = tiny(variant)
    batch = scale_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    first, metrics = model.training_loss(batch)
    assert first.dim() == 0 and math.isfinite(first.item())
    assert 0.0 <= metrics["accuracy"] <= 1.0
    for _ in range(40):
        optimizer.zero_grad()
        loss, _ = model.training_loss(batch)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.7 * first.item()


@pytest.mark.parametrize("variant", CONTROL_VARIANTS)
def test_generates_sixteen_playable_bars_deterministically(variant):
    model = tiny(variant)
    chords = progression()
    first = model.generate(chords, generator=torch.Generator().manual_seed(3))
    again = model.generate(chords, generator=torch.Generator().manual_seed(3))
    other = model.generate(chords, generator=torch.Generator().manual_seed(4))
    assert first.shape == (BARS * STEPS_PER_BAR,) and first.dtype == torch.long
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert_playable(first)
    onsets_per_bar = (first.view(BARS, STEPS_PER_BAR) < MIDI_PITCHES).sum(1)
    assert int((onsets_per_bar > 0).sum()) >= BARS // 2  # notes through the piece, not one bar


@pytest.mark.parametrize("variant", CONTROL_VARIANTS)
def test_sampling_interface_gives_sixteen_bars_of_a_written_progression(variant):
    model = tiny(variant)
    chords = parse_progression(" | ".join(["Dm", "Bb", "F", "C"] * 4))
    melody = sample_melody(model, chords, temperature=0.8, seed=7)
    assert melody.shape == (BARS * STEPS_PER_BAR,) and melody.dtype == np.int64
    assert np.array_equal(melody, sample_melody(model, chords, temperature=0.8, seed=7))
    assert_playable(torch.from_numpy(melody))


@pytest.mark.parametrize("variant", CONTROL_VARIANTS)
def test_generate_keeps_a_prime_and_odd_lengths(variant):
    model = tiny(variant)
    prime = torch.tensor([64, HOLD, HOLD, REST, 67])
    out = model.generate(progression(2)[:27], generator=torch.Generator().manual_seed(0), prime=prime)
    assert out.shape == (27,)
    assert out[:5].tolist() == prime.tolist()
    assert_playable(out)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(progression(1), temperature=0.0)


@pytest.mark.parametrize("variant", CONTROL_VARIANTS)
def test_checkpoint_round_trip_gives_the_same_melody(variant, tmp_path):
    model = tiny(variant, seed=5)
    weights = save_checkpoint(model, tmp_path / variant, extra={"corpus": "test"})
    loaded = load_model(weights)
    assert type(loaded) is type(model)
    assert loaded.sidecar["variant"] == variant and loaded.config == model.config
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    chords = progression(4)
    seed = torch.Generator().manual_seed(11)
    assert torch.equal(
        model.generate(chords, generator=seed), loaded.generate(chords, generator=seed.manual_seed(11))
    )


@pytest.mark.parametrize("variant", ["ec2vae", "vded"])
def test_vaes_never_hold_after_a_rest_even_when_the_net_wants_to(variant):
    model = tiny(variant)
    out_layer = model.melody_out if variant == "ec2vae" else model.decoder_out
    with torch.no_grad():
        out_layer.weight.zero_()
        out_layer.bias.fill_(-30.0)
        out_layer.bias[ROLL_HOLD] = 30.0  # the net would hold forever...
        out_layer.bias[ROLL_REST] = 20.0  # ...and rest when it may not hold
    melody = model.generate(progression(2), generator=torch.Generator().manual_seed(0))
    assert melody.tolist() == [REST] * 32  # hold masked at the start and after every rest


def test_bilstm_melody_is_one_event_every_half_beat():
    model = tiny("bilstm")
    melody = model.generate(progression(4), generator=torch.Generator().manual_seed(1))
    assert (melody[0::2] < MIDI_PITCHES).all()  # an onset every 2 sixteenths = 0.5 beats
    assert (melody[1::2] == HOLD).all()


# ----------------------------------------------------------------------------------------------- Bi-LSTM


def test_event_windows_pad_the_start_and_never_cross_pieces():
    rows = event_windows([np.array([5, 6, 7]), np.array([], dtype=np.int64), np.array([9])], window=2)
    assert rows.tolist() == [
        [PAD_TOKEN, PAD_TOKEN, 5],
        [PAD_TOKEN, 5, 6],
        [5, 6, 7],
        [PAD_TOKEN, PAD_TOKEN, 9],
    ]


def test_bilstm_trains_on_event_windows_and_on_the_common_batch_alike():
    model = tiny("bilstm")
    model.eval()
    batch = scale_batch(batch=2)
    streams = [
        piece_to_events(m, c) for m, c in zip(batch["melody"].numpy(), batch["chords"].numpy(), strict=True)
    ]
    tokens = torch.from_numpy(event_windows(streams, model.config.window))
    from_common, _ = model.training_loss(batch)
    from_tokens, _ = model.training_loss({"tokens": tokens})
    assert torch.allclose(from_common, from_tokens)
    assert tokens[0, -1] == event_id(int(batch["melody"][0, 0]), parse_chord("C"))


def test_bilstm_is_not_conditioned_on_the_chords():
    model = tiny("bilstm")
    major = progression(2)
    other = torch.full_like(major, NO_CHORD)
    assert torch.equal(
        model.generate(major, generator=torch.Generator().manual_seed(2)),
        model.generate(other, generator=torch.Generator().manual_seed(2)),
    )


# ------------------------------------------------------------------------------------ EC2-VAE and VD-ED


def test_roll_conversion_maps_hold_and_rest_both_ways():
    melody = torch.tensor([60, HOLD, REST, 0, 127])
    roll = to_roll(melody)
    assert roll.tolist() == [60, ROLL_HOLD, ROLL_REST, 0, 127]
    assert rhythm_of(roll).tolist() == [0, 1, 2, 0, 0]
    assert torch.equal(from_roll(roll), melody)


def test_teacher_forcing_follows_k_over_k_plus_exp():
    assert teacher_forcing_ratio(0, 1000) == pytest.approx(1000 / 1001)
    assert teacher_forcing_ratio(round(1000 * math.log(1000)), 1000) == pytest.approx(0.5, abs=1e-3)
    assert teacher_forcing_ratio(10**9, 1000) == 0.0


@pytest.mark.parametrize("variant", ["ec2vae", "vded"])
def test_vaes_cut_the_common_window_into_two_bar_segments(variant):
    model = tiny(variant)
    roll, chroma = model.segments(scale_batch(batch=4, steps=100))
    assert roll.shape == (12, 32) and chroma.shape == (12, 32, 12)
    assert chroma[0, 0].nonzero().flatten().tolist() == [0, 4, 7]  # C major chroma
    with pytest.raises(ValueError, match="shorter than one"):
        model.segments(scale_batch(batch=1, steps=20))


@pytest.mark.parametrize("variant", ["ec2vae", "vded"])
def test_teacher_forcing_uses_the_loop_step_and_validation_is_forced(variant):
    model = tiny(variant)
    batch = scale_batch()
    model.train()
    model.train_step = 0
    assert model.training_loss(batch)[1]["teacher_forcing"] == pytest.approx(1000 / 1001)
    model.train_step = 20_000
    assert model.training_loss(batch)[1]["teacher_forcing"] < 1e-5
    model.eval()
    assert model.training_loss(batch)[1]["teacher_forcing"] == 1.0


def test_ec2vae_loss_is_melody_plus_rhythm_plus_weighted_kl():
    model = tiny("ec2vae")
    model.eval()
    loss, parts = model.training_loss(scale_batch())
    expected = parts["melody_nll"] + parts["rhythm_nll"] + 0.1 * (parts["kl_pitch"] + parts["kl_rhythm"])
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert model.config.z_pitch + model.config.z_rhythm == model.to_mu.out_features


def test_vded_has_one_latent_and_no_rhythm_branch():
    model = tiny("vded")
    names = {name for name, _ in model.named_parameters()}
    assert not any("rhythm" in name for name in names)
    model.eval()
    loss, parts = model.training_loss(scale_batch())
    assert float(loss) == pytest.approx(parts["melody_nll"] + 0.1 * parts["kl"], rel=1e-5)
