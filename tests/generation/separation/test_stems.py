"""Rendered multitracks (generation/separation/stems.py) and a tiny model learning from them."""

import json

import numpy as np
import pretty_midi
import pytest
import torch

from generation.nets.base import build_model
from generation.nets.separation import SOURCES
from generation.paths import PRETRAINED_DIR
from generation.rendering import RenderingError
from generation.separation import stems as stems_module
from generation.separation.multitrack import Multitrack
from generation.separation.stems import (
    BASS_PROGRAMS,
    DRUM_KITS,
    HELDOUT_SOUNDFONT,
    MUSIC_PROGRAMS,
    SPLIT_RULE,
    STEM_RMS,
    TRAINING_SOUNDFONTS,
    VOCAL_PROGRAMS,
    assign_voices,
    drum_pattern,
    find_soundfont,
    fixed_pass,
    load_multitracks,
    plan_rendering,
    random_eq,
    random_tilt,
    render_plans,
    room_impulse,
    soundfont_role,
    split_of,
    train_stream,
)
from generation.training import TrainConfig, evaluate, train


def test_every_stem_is_rendered_and_levelled(rendered_tracks):
    for track in rendered_tracks:
        assert track.stems.shape == (4, 8 * 8000)
        for index, source in enumerate(SOURCES):
            stem = track.stems[index]
            sounding = np.abs(stem) > 1e-4 * np.abs(stem).max()
            assert np.abs(stem).max() > 0, source
            assert abs(np.sqrt(np.mean(stem[sounding] ** 2)) - STEM_RMS) < 1e-3, source
        # the stems are different signals, not copies
        corr = np.corrcoef(track.stems)
        assert np.abs(corr[np.triu_indices(4, 1)]).max() < 0.5


def test_voices_follow_the_parts_and_the_skyline():
    midi = pretty_midi.PrettyMIDI()
    for pitches in ([40, 41], [55, 57], [60, 62], [72, 74]):
        inst = pretty_midi.Instrument(0)
        inst.notes = [pretty_midi.Note(80, p, i, i + 1) for i, p in enumerate(pitches)]
        midi.instruments.append(inst)
    voices = assign_voices(midi)
    assert [[n.pitch for n in part] for part in voices["bass"]] == [[40, 41]]
    assert [[n.pitch for n in part] for part in voices["music"]] == [[55, 57], [60, 62]]  # a part each
    assert [[n.pitch for n in part] for part in voices["vocals"]] == [[72, 74]]
    single = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    piano.notes = [pretty_midi.Note(80, p, 0, 1) for p in (48, 64, 67, 76)] + [pretty_midi.Note(80, 79, 1, 2)]
    single.instruments.append(piano)
    voices = assign_voices(single)
    assert [[n.pitch for n in part] for part in voices["vocals"]] == [[76, 79]]
    assert [[n.pitch for n in part] for part in voices["bass"]] == [[48]]
    assert [sorted(n.pitch for n in part) for part in voices["music"]] == [[64, 67]]


def test_drums_keep_the_tempo():
    notes = drum_pattern(tempo_bpm=90, beats_per_bar=4, seconds=8.0, rng=np.random.default_rng(0))
    kicks = sorted(
        n.start
        for n in notes
        if n.pitch == 36 and abs(n.start / (60 / 90) - round(n.start / (60 / 90))) < 1e-9
    )
    snares = [n.start for n in notes if n.pitch == 38]
    assert np.allclose(np.diff(snares), 2 * 60 / 90)  # back beats, every other beat
    assert kicks[0] == 0.0 and all(n.start < 8.0 for n in notes)


def test_splits_are_by_piece_and_stable():
    names = [f"piece{i}" for i in range(400)]
    splits = [split_of(n) for n in names]
    assert splits == [split_of(n) for n in names]
    counts = {s: splits.count(s) for s in ("train", "validation", "test")}
    assert 280 < counts["train"] < 360 and counts["validation"] > 20 and counts["test"] > 20


def test_batches_mix_the_sources_with_random_gains(rendered_tracks):
    batch = next(train_stream(rendered_tracks, batch_size=3, length=8000, rng=np.random.default_rng(1)))
    assert batch["mixture"].shape == (3, 8000) and batch["sources"].shape == (3, 4, 8000)
    torch.testing.assert_close(batch["mixture"], batch["sources"].sum(dim=1))
    again = next(train_stream(rendered_tracks, batch_size=3, length=8000, rng=np.random.default_rng(1)))
    assert torch.equal(batch["mixture"], again["mixture"])
    first = list(fixed_pass(rendered_tracks, batch_size=4, length=8000, limit=64))
    second = list(fixed_pass(rendered_tracks, batch_size=4, length=8000, limit=64))
    assert sum(b["mixture"].shape[0] for b in first) == 16  # 2 pieces x 8 one-second segments
    assert all(torch.equal(a["sources"], b["sources"]) for a, b in zip(first, second))


def test_a_tiny_model_learns_from_rendered_multitracks(rendered_tracks, tmp_path):
    torch.manual_seed(0)
    model = build_model("separation", "tiny")
    length = model.config.segment_samples
    validation = list(fixed_pass(rendered_tracks, batch_size=8, length=length, limit=16))
    before = evaluate(model, validation, torch.device("cpu"))
    result = train(
        model,
        train_stream(rendered_tracks, batch_size=4, length=length, rng=np.random.default_rng(0)),
        validation_batches=lambda: validation,
        config=TrainConfig(
            steps=60, batch_size=4, learning_rate=3e-3, validate_every=60, checkpoint_steps=(), device="cpu"
        ),
        out=tmp_path / "tiny",
        progress=False,
    )
    after = result.final_validation_loss
    assert after < 0.7 * before, (before, after)
    assert (tmp_path / "tiny.safetensors").exists()


# --------------------------------------------------------------------- many timbres, one held out


def programs(plan) -> dict[str, list[int]]:
    return {source: [part.program for part in plan.parts[source]] for source in SOURCES}


def test_programs_stay_in_each_stems_family_and_vary_by_rendering(four_part_midi):
    midi = four_part_midi()
    plans = [plan_rendering("p", midi, sample_rate=8000, rendering=r) for r in range(40)]
    for plan in plans:
        chosen = programs(plan)
        assert all(p in BASS_PROGRAMS for p in chosen["bass"]) and len(chosen["bass"]) == 1
        assert all(p in MUSIC_PROGRAMS for p in chosen["music"]) and len(chosen["music"]) == 2
        assert all(p in VOCAL_PROGRAMS for p in chosen["vocals"]) and chosen["drums"][0] in DRUM_KITS
        assert plan.parts["drums"][0].is_drum and not plan.parts["bass"][0].is_drum
    assert len({tuple(programs(plan)["music"]) for plan in plans}) > 10  # not one timbre set
    assert 0 < sum(plan.room is None for plan in plans) < 20  # mostly reverberant, some dry
    again = plan_rendering("p", midi, sample_rate=8000, rendering=7)
    assert programs(again) == programs(plans[7]) and np.array_equal(again.room, plans[7].room)
    other_seed = [plan_rendering("p", midi, sample_rate=8000, rendering=7, seed=s) for s in range(1, 6)]
    assert any(programs(p) != programs(plans[7]) for p in other_seed)


def test_rooms_are_light_decaying_tails():
    impulses = [room_impulse(np.random.default_rng(s), 8000) for s in range(30)]
    impulses = [i for i in impulses if i is not None]
    for impulse in impulses:
        assert abs(float(np.sum(impulse.astype(np.float64) ** 2)) - 1.0) < 1e-4
        assert len(impulse) < 8000  # under a second
        quarter = len(impulse) // 4
        assert np.sum(impulse[:quarter] ** 2) > 10 * np.sum(impulse[-quarter:] ** 2)


def test_rendering_is_deterministic_and_each_stem_is_alone(four_part_midi):
    midi = four_part_midi()
    plan = plan_rendering("p", midi, sample_rate=8000, rendering=1)
    other = plan_rendering("q", four_part_midi(2.0), sample_rate=8000, rendering=2)
    font = find_soundfont(TRAINING_SOUNDFONTS[0])
    alone = render_plans([plan], soundfont=font, sample_rate=8000)[0]
    again = render_plans([plan], soundfont=font, sample_rate=8000)[0]
    assert np.array_equal(alone.stems, again.stems)  # bit for bit
    # rendered after another piece in the same FluidSynth pass: the gap keeps the pieces apart (the
    # synth's chorus and reverb run on, so the samples differ a little, 20 dB down at most)
    shared = render_plans([other, plan], soundfont=font, sample_rate=8000)[1]
    assert shared.name == "p" and shared.soundfont == font.name
    for index, source in enumerate(SOURCES):
        error = np.sqrt(np.mean((shared.stems[index] - alone.stems[index]) ** 2))
        assert error < 0.1 * STEM_RMS, source


def test_a_soundfont_changes_the_timbre_not_the_notes(four_part_midi):
    midi = four_part_midi()
    plan = plan_rendering("p", midi, sample_rate=8000)
    tim = render_plans([plan], soundfont=find_soundfont("TimGM6mb.sf2"), sample_rate=8000)[0]
    fluid = render_plans([plan], soundfont=find_soundfont(HELDOUT_SOUNDFONT), sample_rate=8000)[0]
    assert tim.stems.shape == fluid.stems.shape
    differences = [np.sqrt(np.mean((a - b) ** 2)) for a, b in zip(tim.stems, fluid.stems)]
    assert min(differences) > 0.2 * STEM_RMS  # every stem sounds different


def test_the_held_out_soundfont_never_trains(four_part_midi, tmp_path, monkeypatch):
    assert HELDOUT_SOUNDFONT not in TRAINING_SOUNDFONTS and len(TRAINING_SOUNDFONTS) >= 2
    assert soundfont_role(find_soundfont(HELDOUT_SOUNDFONT)) == "held out"
    assert HELDOUT_SOUNDFONT in SPLIT_RULE and all(name in SPLIT_RULE for name in TRAINING_SOUNDFONTS)
    folder = tmp_path / "midi"
    folder.mkdir()
    names = [f"piece{i}.mid" for i in range(40)]
    train_names = [n for n in names if split_of(n) == "train"][:2]
    test_names = [n for n in names if split_of(n) == "test"][:1]
    for name in train_names + test_names:
        four_part_midi(2.0).write(str(folder / name))
    cache = tmp_path / "cache"
    train = load_multitracks(str(folder), split="train", sample_rate=8000, cache_dir=cache, progress=False)
    assert sorted((t.soundfont, t.name) for t in train) == sorted(
        (font, name) for font in TRAINING_SOUNDFONTS for name in train_names
    )
    by_font = {t.soundfont: t for t in train if t.name == train_names[0]}
    first, second = (by_font[f].stems for f in TRAINING_SOUNDFONTS)
    assert not np.allclose(first, second)
    # cached: a second load renders nothing
    monkeypatch.setattr("generation.separation.stems.render_plans", lambda *a, **k: pytest.fail("rendered"))
    assert len(load_multitracks(str(folder), split="train", sample_rate=8000, cache_dir=cache)) == 4
    monkeypatch.undo()
    held = load_multitracks(
        str(folder),
        split="test",
        sample_rate=8000,
        cache_dir=cache,
        soundfonts=[find_soundfont(HELDOUT_SOUNDFONT)],
        progress=False,
    )
    assert [(t.name, t.soundfont) for t in held] == [(test_names[0], HELDOUT_SOUNDFONT)]


def test_missing_or_wrong_soundfonts_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(stems_module, "SOUNDFONT_FOLDERS", (tmp_path,))
    with pytest.raises(RenderingError, match="apt-get install fluid-soundfont-gm"):
        find_soundfont("FluidR3_GM.sf2")
    monkeypatch.undo()
    not_a_font = tmp_path / "notes.txt"
    not_a_font.write_text("x")
    cache = tmp_path / "cache"
    for bad, message in ((tmp_path / "missing.sf2", "not found"), (not_a_font, "not a soundfont")):
        with pytest.raises(RenderingError, match=message):
            load_multitracks("chorales:2", split="test", sample_rate=8000, cache_dir=cache, soundfonts=[bad])
    assert not cache.exists()  # nothing rendered, nothing written


def test_validation_hears_every_piece_even_when_limited():
    # track i sounds only in source i, so a segment tells which track it came from
    tracks = []
    for index in range(3):
        stems = np.zeros((4, 4 * 8000), dtype=np.float32)
        stems[index] = 0.1
        tracks.append(Multitrack(name=f"t{index}", sample_rate=8000, stems=stems))
    batches = list(fixed_pass(tracks, batch_size=4, length=8000, limit=6))
    sources = torch.cat([b["sources"] for b in batches])
    assert sources.shape == (6, 4, 8000)
    assert [int(segment.abs().sum(dim=1).argmax()) for segment in sources] == [0, 1, 2, 0, 1, 2]


def test_training_batches_tilt_each_stem_without_touching_the_cache(rendered_tracks):
    before = [t.stems.copy() for t in rendered_tracks]
    batch = next(train_stream(rendered_tracks, batch_size=4, length=8000, rng=np.random.default_rng(3)))
    assert all(np.array_equal(t.stems, b) for t, b in zip(rendered_tracks, before))
    torch.testing.assert_close(batch["mixture"], batch["sources"].sum(dim=1))
    # a low and a high tone in every stem: the tilt moves their levels in opposite ways
    t = np.arange(800)
    tones = np.cos(2 * np.pi * 8 * t / 800) + np.cos(np.pi * t)  # FFT bins 8 and 400 (Nyquist)
    segments = np.broadcast_to(tones, (64, 4, 800)).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(random_tilt(segments, np.random.default_rng(0)), axis=-1))
    low_gain, high_gain = (spectrum[..., 8] / 400).ravel(), (spectrum[..., 400] / 800).ravel()
    assert (
        low_gain.min() > 0.55 and low_gain.max() < 1.45 and high_gain.min() > 0.55 and high_gain.max() < 1.45
    )
    assert np.corrcoef(low_gain, high_gain)[0, 1] < -0.9
    assert low_gain.std() > 0.1  # really random, stem by stem


def test_the_random_eq_is_smooth_bounded_and_drawn_stem_by_stem():
    # white noise through random_eq: the band gains stay inside +-EQ_DB and differ from stem to stem
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((16, 4, 16000)).astype(np.float32)
    out = random_eq(noise, np.random.default_rng(1), sample_rate=8000)
    assert out.shape == noise.shape and out.dtype == np.float32
    bands = [(100, 200), (400, 800), (1500, 3000), (3000, 3900)]  # Hz
    freqs = np.fft.rfftfreq(16000, 1 / 8000)

    def band_power(x):
        power = np.abs(np.fft.rfft(x, axis=-1)) ** 2
        return np.stack([power[..., (freqs >= lo) & (freqs < hi)].mean(-1) for lo, hi in bands], -1)

    gain_db = 10 * np.log10(band_power(out) / band_power(noise))
    assert gain_db.min() > -stems_module.EQ_DB - 1 and gain_db.max() < stems_module.EQ_DB + 1
    assert gain_db[..., 0].std() > 1.5  # really random, stem by stem
    # smooth: neighbouring bands move together far more than distant ones
    assert np.corrcoef(gain_db[..., 2].ravel(), gain_db[..., 3].ravel())[0, 1] > 0.5
    assert abs(np.corrcoef(gain_db[..., 0].ravel(), gain_db[..., 3].ravel())[0, 1]) < 0.5
    # zero padding: a click at the end of a segment does not wrap round onto its start
    click = np.zeros((1, 4, 8000), dtype=np.float32)
    click[..., -1] = 1.0
    assert np.abs(random_eq(click, rng, sample_rate=8000)[..., :4000]).max() < 1e-3


def test_remixed_rows_take_each_stem_from_its_own_draw():
    # track i plays a tone at its own frequency in every stem, so a stem tells which track it came from
    t = np.arange(4 * 8000) / 8000
    tracks = [
        Multitrack(
            name=f"t{i}", sample_rate=8000, stems=np.tile(np.sin(2 * np.pi * (200 + 300 * i) * t), (4, 1))
        )
        for i in range(6)
    ]

    def origins(batch):
        spectrum = np.abs(np.fft.rfft(batch["sources"].numpy(), axis=-1))
        return (spectrum.argmax(-1) - 200) // 300  # 1 Hz bins: the tone of track i at bin 200 + 300 i

    def batch(share, seed=0):
        stream = train_stream(
            tracks,
            batch_size=64,
            length=8000,
            rng=np.random.default_rng(seed),
            remix_share=share,
            sample_rate=8000,
        )
        return next(stream)

    coherent = origins(batch(0.0))
    assert (coherent == coherent[:, :1]).all()  # every stem of a row from one track
    mixed = batch(1.0)
    torch.testing.assert_close(mixed["mixture"], mixed["sources"].sum(dim=1))
    assert (origins(mixed) != origins(mixed)[:, :1]).any(axis=1).mean() > 0.9
    half = origins(batch(0.5, seed=3))
    assert 0.25 < (half != half[:, :1]).any(axis=1).mean() < 0.75


def test_the_committed_model_records_the_real_split_rule():
    sidecar = json.loads((PRETRAINED_DIR / "separation.json").read_text())
    assert sidecar["split"] == SPLIT_RULE
    assert sidecar["corpus"] == "chorales" and sidecar["config"]["hidden"] == 256
