"""The separation RNN (generation/nets/separation.py): masks, STFT round trip, shapes, determinism."""

import torch

from generation.nets.base import build_model
from generation.nets.separation import SOURCES, SeparationConfig, SeparationRNN


def tiny_model(seed: int = 0) -> SeparationRNN:
    torch.manual_seed(seed)
    return build_model("separation", "tiny")


def noise(batch: int, seconds: float, sample_rate: int = 8000, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, int(seconds * sample_rate), generator=generator)


def test_presets_follow_the_paper():
    paper = SeparationConfig.preset("paper")
    assert (paper.n_fft, paper.hop, paper.layers, paper.hidden) == (1024, 512, 3, 256)
    small = SeparationConfig.preset("small")
    assert (small.n_fft, small.hop, small.layers) == (1024, 512, 3)
    model = SeparationRNN(paper)
    assert model.gru.num_layers == 3 and model.gru.hidden_size == 256
    assert len(model.heads) == len(SOURCES) == 4
    assert all(isinstance(head[1], torch.nn.ReLU) for head in model.heads)


def test_estimates_sum_to_the_mixture_magnitude():
    model = tiny_model()
    mixture = model.stft(noise(2, 1.0)).abs()
    with torch.no_grad():
        estimates = model(mixture)
        raw = model.estimates(mixture)
    assert estimates.shape == (2, 4, *mixture.shape[1:])
    assert (estimates >= 0).all()
    torch.testing.assert_close(estimates.sum(dim=1), mixture, rtol=1e-5, atol=1e-6)
    # the heads really differ: the masks are not just a uniform 1/4 split
    masks = model.masks(mixture)
    assert masks.std() > 1e-3
    assert (raw >= 0).all()


def test_all_zero_heads_split_the_mixture_evenly():
    model = tiny_model()
    for head in model.heads:
        torch.nn.init.zeros_(head[0].weight)
        torch.nn.init.constant_(head[0].bias, -1.0)  # ReLU -> every estimate is exactly 0
    mixture = model.stft(noise(1, 0.5)).abs()
    with torch.no_grad():
        estimates = model(mixture)
    torch.testing.assert_close(estimates, mixture.unsqueeze(1).expand_as(estimates) / 4)


def test_stft_then_istft_with_unit_masks_rebuilds_the_signal():
    model = tiny_model()
    audio = noise(3, 0.77)  # not a whole number of hops
    spec = model.stft(audio)
    assert spec.shape == (3, audio.shape[1] // model.config.hop + 1, model.config.bins)
    rebuilt = model.istft(torch.ones_like(spec.real) * spec, audio.shape[1])
    assert rebuilt.shape == audio.shape
    assert (rebuilt - audio).abs().max() < 1e-5


def test_separated_waveforms_add_up_to_the_mixture():
    model = tiny_model()
    audio = noise(2, 1.3)
    stems = model.separate(audio)
    assert stems.shape == (2, 4, audio.shape[1])
    assert (stems.sum(dim=1) - audio).abs().max() < 1e-5
    # and they are not four copies of a quarter of it
    assert (stems[:, 0] - stems[:, 3]).abs().max() > 1e-4


def test_same_seed_same_model_same_output():
    audio = noise(1, 1.0)
    first = tiny_model(seed=3).separate(audio)
    second = tiny_model(seed=3).separate(audio)
    other = tiny_model(seed=4).separate(audio)
    assert torch.equal(first, second)
    assert not torch.allclose(first, other)


def test_training_loss_is_the_magnitude_mse_of_all_four_sources():
    model = tiny_model()
    sources = noise(2, 1.0).unsqueeze(1).repeat(1, 4, 1) * torch.tensor([1.0, 0.5, 0.25, 0.0]).view(1, 4, 1)
    batch = {"mixture": sources.sum(dim=1), "sources": sources}
    loss, metrics = model.training_loss(batch)
    estimate = model(model.stft(batch["mixture"]).abs())
    expected = ((estimate - model.stft(sources).abs()) ** 2).mean()
    torch.testing.assert_close(loss, expected)
    assert set(metrics) == {f"mse_{name}" for name in SOURCES}
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
