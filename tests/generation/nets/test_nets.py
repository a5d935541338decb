import pytest
import torch

from generation.music.encoding import HOLD, MELODY_SIZE, MIDI_PITCHES, REST
from generation.nets.base import (
    START,
    VARIANTS,
    UnknownVariantError,
    build_model,
    constrain_logits,
    get_variant,
)
from generation.nets.wavenet import sounding_pitches, to_token_logits

CORE = ["proposed", "unilstm", "gru", "rnn", "lstm1", "wavenet"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(variant: str):
    torch.manual_seed(0)
    return build_model(variant, "tiny").eval()


def random_batch(seed: int = 0, batch: int = 2, steps: int = 40):
    g = torch.Generator().manual_seed(seed)
    melody = torch.randint(48, 84, (batch, steps), generator=g)
    melody = torch.where(torch.rand(batch, steps, generator=g) < 0.4, torch.full_like(melody, HOLD), melody)
    melody[:, 0] = 60
    return melody, torch.randint(0, 25, (batch, steps), generator=g)


def test_registry_has_the_core_variants():
    assert set(CORE) <= set(VARIANTS)
    with pytest.raises(UnknownVariantError, match="known variants: .*proposed"):
        get_variant("transformer")


@pytest.mark.parametrize("variant", CORE)
def test_presets(variant):
    cls = get_variant(variant)
    for name in ("tiny", "small", "paper"):
        assert isinstance(cls.Config.preset(name), cls.Config)
        assert cls.Config.training_preset(name)["batch_size"] > 0
    assert cls.Config.training_preset("paper")["batch_size"] == 512
    if variant != "wavenet":
        paper = cls.Config.preset("paper")
        assert (paper.hidden, paper.dropout) == (512, 0.25)
        assert paper.layers == (1 if variant == "lstm1" else 7)
    with pytest.raises(ValueError, match="unknown preset"):
        cls.Config.preset("huge")


def test_proposed_paper_structure():
    model = build_model("proposed", "paper")
    assert len(model.stack) == 7 and model.stack[0].hidden_size == 512
    assert model.chord_encoder.bidirectional
    assert model.stack[0].input_size == MELODY_SIZE + 2 * 128
    assert model.head.out_features == MELODY_SIZE
    assert not build_model("unilstm", "paper").chord_encoder.bidirectional
    assert isinstance(build_model("gru", "tiny").stack[0], torch.nn.GRU)
    assert isinstance(build_model("rnn", "tiny").stack[0], torch.nn.RNN)


@pytest.mark.parametrize("variant", CORE)
def test_teacher_forcing_matches_step_by_step(variant):
    model = tiny(variant)
    melody, chords = random_batch()
    full = model(melody, chords)
    assert full.shape == (2, 40, MELODY_SIZE)
    state, previous, steps = model.begin(chords[:1]), torch.tensor([START]), []
    for t in range(40):
        logits, state = model.step(state, previous, t)
        steps.append(logits)
        previous = melody[:1, t]
    stepped = torch.stack(steps, dim=1)
    finite = torch.isfinite(full[:1])
    assert torch.equal(finite, torch.isfinite(stepped))
    assert torch.allclose(full[:1][finite], stepped[finite], atol=1e-5)


@pytest.mark.parametrize("variant", CORE)
def test_causal_over_melody(variant):
    model = tiny(variant)
    melody, chords = random_batch()
    changed = melody.clone()
    changed[:, 20:] = 72
    assert torch.equal(model(melody, chords)[:, :21], model(changed, chords)[:, :21])
    assert not torch.allclose(model(melody, chords)[:, 21:], model(changed, chords)[:, 21:])


@pytest.mark.parametrize(
    ("variant", "sees_future_chords"),
    [
        ("proposed", True),
        ("gru", True),
        ("rnn", True),
        ("unilstm", False),
        ("lstm1", False),
        ("wavenet", False),
    ],
)
def test_future_chords(variant, sees_future_chords):
    model = tiny(variant)
    melody, chords = random_batch()
    changed = chords.clone()
    changed[:, 30:] = (changed[:, 30:] + 5) % 24
    before = model(melody, chords)
    after = model(melody, changed)
    finite = torch.isfinite(before[:, :30])
    assert torch.allclose(before[:, :30][finite], after[:, :30][finite]) != sees_future_chords
    assert not torch.allclose(before[:, 30:], after[:, 30:])  # everyone sees the current chord


@pytest.mark.parametrize("variant", CORE)
def test_generation_is_seeded_and_never_emits_masked_tokens(variant):
    model = tiny(variant)
    chords = torch.randint(0, 25, (64,), generator=torch.Generator().manual_seed(1))
    a = model.generate(chords, temperature=3.0, generator=torch.Generator().manual_seed(5))
    b = model.generate(chords, temperature=3.0, generator=torch.Generator().manual_seed(5))
    c = model.generate(chords, temperature=3.0, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (64,)
    tokens = torch.cat(
        [
            model.generate(chords, temperature=5.0, generator=torch.Generator().manual_seed(s))
            for s in range(4)
        ]
    )
    assert not ((tokens >= MIDI_PITCHES) & (tokens < REST)).any()
    for sample in tokens.view(4, 64):
        assert sample[0] != HOLD
        assert not ((sample[1:] == HOLD) & (sample[:-1] == REST)).any()


def test_generation_honours_a_prime():
    model = tiny("proposed")
    prime = torch.tensor([62, HOLD, HOLD, 65])
    out = model.generate(
        torch.zeros(16, dtype=torch.long), generator=torch.Generator().manual_seed(0), prime=prime
    )
    assert out[:4].tolist() == prime.tolist()


def test_constrain_logits_masks():
    logits = torch.zeros(MELODY_SIZE)
    assert torch.isinf(constrain_logits(logits, START)[HOLD]) and torch.isinf(
        constrain_logits(logits, REST)[HOLD]
    )
    assert torch.isfinite(constrain_logits(logits, 60)[HOLD])
    assert (
        torch.isinf(constrain_logits(logits, 60)[128:153]).all()
        and torch.isfinite(constrain_logits(logits, 60)[:128]).all()
    )


def test_wavenet_maps_its_128_channels_to_tokens():
    melody = torch.tensor([[60, HOLD, REST, 62, 62, HOLD, 64]])
    assert sounding_pitches(melody).tolist() == [[60, 60, 0, 62, 62, 62, 64]]
    logits = torch.arange(128, dtype=torch.float).view(1, 128)
    tokens = to_token_logits(logits, torch.tensor([62]))
    assert tokens[0, HOLD] == 62 and tokens[0, REST] == 0 and tokens[0, 64] == 64
    assert torch.isinf(tokens[0, 62]) and torch.isinf(tokens[0, 0]) and torch.isinf(tokens[0, 128:153]).all()
    assert torch.isinf(to_token_logits(logits, torch.tensor([0]))[0, HOLD])
