import hashlib

import numpy as np
import pytest

from generation.music import corpus as corpus_module
from generation.music.corpus import (
    CorpusError,
    PartSummary,
    Piece,
    choose_melody_part,
    load_corpus,
    melody_batches,
    save_corpus,
    select_keys,
    split_of,
    trainable_start,
    window_starts,
)
from generation.music.encoding import (
    HOLD,
    MIDI_PITCHES,
    NO_CHORD,
    REST,
    Note,
    bar_positions,
    notes_to_tokens,
    parse_chord,
)
from generation.music.midi import melody_to_midi


def valid_tokens(melody: np.ndarray) -> bool:
    previous = REST
    for token in melody.tolist():
        if token == HOLD and previous == REST:
            return False
        if MIDI_PITCHES <= token < REST:
            return False
        previous = token
    return True


def test_split_rule_is_fixed_and_by_whole_piece():
    assert split_of("bach/bwv10.7") == "train"
    assert {split_of(f"piece{i}") for i in range(100)} == {"train", "validation", "heldout"}
    shares = [split_of(f"piece{i}") for i in range(2000)]
    assert 0.07 < shares.count("heldout") / 2000 < 0.13
    keys = [f"piece{i}" for i in range(200)]
    chosen = select_keys(keys, 10)
    assert len(chosen) == 10 and {split_of(k) for k in chosen} == {"train", "validation", "heldout"}


def test_chorales_are_encoded_with_soprano_and_beat_chords(small_corpus):  # noqa: F811
    assert small_corpus.encoding_version == corpus_module.ENCODING_VERSION
    assert (len(small_corpus.train), len(small_corpus.validation), len(small_corpus.heldout)) == (8, 1, 1)
    for piece in small_corpus.pieces:
        assert piece.split == split_of(piece.key)
        assert len(piece.melody) == len(piece.chords) and len(piece.melody) % 4 == 0
        assert valid_tokens(piece.melody)
        pitches = piece.melody[piece.melody < MIDI_PITCHES]
        assert pitches.min() >= 55 and pitches.max() <= 84  # a soprano range
        assert ((piece.chords >= 0) & (piece.chords <= NO_CHORD)).all()
        beats = piece.chords.reshape(-1, 4)
        assert (beats == beats[:, :1]).all()  # one chord per beat
        assert (piece.chords != NO_CHORD).mean() > 0.9
    bwv = next(p for p in small_corpus.pieces if p.key == "bach/bwv10.7")
    assert bwv.melody[:8].tolist() == [74] + [HOLD] * 7  # its first soprano note: a half-note D5
    assert bwv.chords[0] == parse_chord("Gm")
    assert bwv.title == "BWV 10.7" and bwv.beats_per_bar == 4 and bwv.tempo_bpm == 80


def test_cache_is_reused_and_rebuilt_for_another_encoding_version(corpus_dir, monkeypatch):  # noqa: F811
    first = load_corpus("chorales", limit=3, cache_dir=corpus_dir)
    cached = sorted(corpus_dir.glob("chorales-*-e*.npz"))
    assert cached
    monkeypatch.setattr(corpus_module, "parse_chorale", lambda key: pytest.fail("parsed although cached"))
    again = load_corpus("chorales", limit=3, cache_dir=corpus_dir)
    assert [p.key for p in again.pieces] == [p.key for p in first.pieces]
    # A cache written under another encoding version is not trusted: the pieces are parsed again.
    parsed = []
    monkeypatch.setattr(corpus_module, "ENCODING_VERSION", corpus_module.ENCODING_VERSION + 1)
    monkeypatch.setattr(
        corpus_module,
        "parse_chorale",
        lambda key: parsed.append(key) or Piece(key, np.array([60] * 12), np.zeros(12, np.int64), 80, 4),
    )
    rebuilt = load_corpus("chorales", limit=3, cache_dir=corpus_dir)
    assert sorted(parsed) == sorted(p.key for p in first.pieces)
    assert rebuilt.pieces[0].melody.tolist() == [60] * 12


def test_training_batches_transpose_skip_first_notes_and_are_seeded(small_corpus):  # noqa: F811
    batches = melody_batches(small_corpus, split="train", batch_size=16, seed=3)
    a = [next(batches) for _ in range(3)]
    b = [next(melody_batches(small_corpus, split="train", batch_size=16, seed=3)) for _ in range(1)]
    assert a[0]["melody"].equal(b[0]["melody"]) and a[0]["chords"].equal(b[0]["chords"])
    assert a[0]["melody"].shape == (16, 100) and a[0]["chords"].shape == (16, 100)
    for batch in a:
        for melody in batch["melody"].numpy():
            assert valid_tokens(melody) and melody[0] != HOLD
    # Transposition: segments appear in keys the original pieces never use.
    originals = {tuple(p.melody[i : i + 8]) for p in small_corpus.train for i in range(len(p.melody) - 8)}
    windows = [tuple(m[:8]) for batch in a for m in batch["melody"].numpy().tolist()]
    assert sum(w not in originals for w in windows) > len(windows) // 3


def test_validation_batches_are_one_pass_in_the_original_key_from_downbeats(small_corpus):  # noqa: F811
    batches = list(melody_batches(small_corpus, split="validation", batch_size=4, seed=0, segment_steps=32))
    piece = small_corpus.validation[0]
    start = trainable_start(piece.melody)
    assert start == np.flatnonzero(piece.melody < MIDI_PITCHES)[8]
    bars = [s for s in piece.bar_starts if s >= start]
    expected = []  # greedy: the first bar start at or after the end of the previous window
    for s in bars:
        if s + 32 <= len(piece.melody) and (not expected or s >= expected[-1] + 32):
            expected.append(s)
    windows = [m for b in batches for m in b["chords"].tolist()]
    assert len(windows) == len(expected) > 3
    assert windows == [piece.chords[s : s + 32].tolist() for s in expected]


def test_training_windows_start_on_downbeats_after_a_pickup(small_corpus):  # noqa: F811
    with_pickup = [p for p in small_corpus.pieces if p.bar_starts[0] > 0]
    assert with_pickup, "some of the first chorales open with a pickup"
    for piece in small_corpus.pieces:
        bar = piece.beats_per_bar * 4
        assert piece.bar_starts[0] < bar  # a pickup is shorter than a bar
        starts = window_starts(piece, 100)
        assert set(starts.tolist()) <= set(piece.bar_starts)
        assert starts.min() >= trainable_start(piece.melody) and (starts + 100 <= len(piece.melody)).all()
        assert ((starts - piece.bar_starts[0]) % bar == 0).mean() > 0.8  # mostly a regular grid after it

    # Every training window is one of those, transposed: its melody relative to its lowest pitch is
    # the melody of a window that starts on a bar start.
    def shape(melody):
        melody = np.asarray(melody)
        low = melody[melody < MIDI_PITCHES].min()
        return tuple(int(t) if t >= MIDI_PITCHES else int(t - low) for t in melody)

    on_bars = {
        shape(corpus_module._segment(p.melody, p.chords, int(s), 100)[0])
        for p in small_corpus.train
        for s in window_starts(p, 100)
    }
    batch = next(melody_batches(small_corpus, split="train", batch_size=32, seed=1))
    assert all(shape(m) in on_bars for m in batch["melody"].numpy())


def test_midi_folder_and_saved_corpora(tmp_path):
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(4):
        notes = [Note(60 + (i + j) % 7, 4 * j, 4) for j in range(16)]
        chords = np.array([parse_chord(["C", "F", "G", "Am"][j % 4]) for j in range(64)])
        melody_to_midi(notes_to_tokens(notes, 64), chords, tempo_bpm=90 + i).write(
            str(folder / f"song{i}.mid")
        )
    (folder / "notes.txt").write_text("not midi")
    corpus = load_corpus(str(folder), cache_dir=tmp_path / "cache")
    assert sorted(p.key for p in corpus.pieces) == [f"song{i}" for i in range(4)]
    song = next(p for p in corpus.pieces if p.key == "song2")
    assert song.melody[:8].tolist() == [62, HOLD, HOLD, HOLD, 63, HOLD, HOLD, HOLD]
    assert round(song.tempo_bpm) == 92 and song.beats_per_bar == 4
    path = save_corpus("ingested", corpus.pieces, cache_dir=tmp_path / "cache")
    assert path.name == "ingested.npz"
    named = load_corpus("ingested", cache_dir=tmp_path / "cache")
    assert [p.melody.tolist() for p in named.pieces] == [p.melody.tolist() for p in corpus.pieces]
    with pytest.raises(CorpusError, match="no corpus"):
        load_corpus("nothing-here", cache_dir=tmp_path / "cache")


def test_the_melody_is_the_sung_top_line_never_an_instrument():
    trumpet, soprano, alto = (
        PartSummary(0, "Trumpet 1", 79.0, 0.72),
        PartSummary(1, "Soprano", 70.0, 0.03),
        PartSummary(2, "Alto", 64.0, 0.02),
    )
    assert choose_melody_part([trumpet, soprano, alto]) is soprano
    # A doubled voice keeps its voice name; an instrumental bass line does not count as a voice.
    doubled = PartSummary(5, "Soprano Oboe 1 Violin1", 71.0, 0.05)
    assert choose_melody_part([trumpet, doubled, PartSummary(6, "Bass Continuo", 50.0, 0.0)]) is doubled
    for name in ("Basso continuo", "Flutes", "Recorders", "Cornet 1", "Oboe d'amore", "Violin1"):
        assert PartSummary(0, name, 48.0, 0.0).is_instrument, name
    # No soprano: the highest voice; unnamed parts: the highest part that sounds most of the time.
    tenor = PartSummary(3, "Tenor", 58.0, 0.01)
    assert choose_melody_part([PartSummary(0, "Violin", 80.0, 0.0), tenor, alto]) is alto
    unnamed = [PartSummary(0, "", 81.0, 0.9), PartSummary(1, "", 69.0, 0.02), PartSummary(2, "", 60.0, 0.0)]
    assert choose_melody_part(unnamed) is unnamed[1]
    with pytest.raises(CorpusError, match="no vocal part: Trumpet 1, Horn 2"):
        choose_melody_part([trumpet, PartSummary(1, "Horn 2", 70.0, 0.1)])


def test_every_chorale_melody_is_a_voice_and_mostly_sounds():
    """The whole bundled corpus through the default cache (var/corpora, or $DOCBGM_CORPUS_DIR), the one
    training reads: the first run encodes the 350 chorales (about 3-4 minutes on one core), later runs
    read the cache in about a second."""
    corpus = load_corpus("chorales")
    assert len(corpus.pieces) == len(corpus_module.chorale_keys())  # every chorale has a sung line now
    parts = {p.key: p.melody_part for p in corpus.pieces}
    # The first part of these is an instrument (trumpet, horn, violin, ...): the soprano is chosen.
    for key in ("bach/bwv190.7", "bach/bwv248.9-1", "bach/bwv91.6", "bach/bwv70.11"):
        assert parts[key] == "Soprano"
    assert parts["bach/bwv41.6"] == "Soprano Oboe 1 Violin1"
    assert sum(name == "Soprano" for name in parts.values()) >= 340
    for piece in corpus.pieces:
        assert not PartSummary(0, piece.melody_part, 0.0, 0.0).is_instrument, piece.key
        sounding = (piece.melody != REST).mean()
        assert sounding > 0.5, (piece.key, piece.melody_part, sounding)
        pitches = piece.melody[piece.melody < MIDI_PITCHES]
        assert 55 <= np.median(pitches) <= 79, piece.key  # a soprano's middle, not a trumpet's or a bass's


def batches_digest(batches, count: int) -> str:
    digest = hashlib.sha1()
    for _, batch in zip(range(count), batches):
        for name in sorted(batch):
            digest.update(name.encode() + batch[name].numpy().tobytes())
    return digest.hexdigest()


# The default batches (melody and chords only) of the first 10 chorales, as made before the bar-position
# option existed (commit 293e33b): the option must not change what the committed checkpoints train on.
PINNED_TRAIN_BATCHES = "3fa509a47629c364ce5e755eee53c9364a750de3"  # 5 batches of 8, seed 0, 100 steps
PINNED_VALIDATION_BATCHES = "582b146e0ef491ea855602c3495185d72daa30b2"  # the whole pass, batches of 8


def test_default_batches_are_the_ones_before_the_bar_position_option(small_corpus):  # noqa: F811
    train = melody_batches(small_corpus, split="train", batch_size=8, seed=0)
    assert batches_digest(train, 5) == PINNED_TRAIN_BATCHES
    validation = melody_batches(small_corpus, split="validation", batch_size=8, seed=0)
    assert batches_digest(validation, 1000) == PINNED_VALIDATION_BATCHES


def test_bar_position_batches_add_the_position_and_change_nothing_else(small_corpus):  # noqa: F811
    for split in ("train", "validation"):
        plain = melody_batches(small_corpus, split=split, batch_size=8, seed=0)
        positioned = melody_batches(small_corpus, split=split, batch_size=8, seed=0, bar_position=True)
        for _, a, b in zip(range(4), plain, positioned):
            assert set(a) == {"melody", "chords"} and set(b) == {"melody", "chords", "position"}
            assert a["melody"].equal(b["melody"]) and a["chords"].equal(b["chords"])
            position = b["position"].numpy()
            assert position.shape == a["melody"].shape and (position[:, 0] == 0).all()  # downbeat starts
    # Every window's positions are its piece's positions at the window's steps.
    piece = small_corpus.validation[0]
    assert piece.positions()[piece.bar_starts[0]] == 0
    assert (
        piece.positions().tolist()
        == bar_positions(
            len(piece.melody), beats_per_bar=piece.beats_per_bar, bar_starts=np.array(piece.bar_starts)
        ).tolist()
    )
    first = next(melody_batches(small_corpus, split="validation", batch_size=1, seed=0, bar_position=True))
    start = window_starts(piece, 100)[0]
    assert first["position"][0].tolist() == piece.positions()[start : start + 100].tolist()
