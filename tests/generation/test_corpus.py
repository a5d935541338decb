import numpy as np
import pytest

from generation.music import corpus as corpus_module
from generation.music.corpus import (
    CorpusError,
    Piece,
    load_corpus,
    melody_batches,
    save_corpus,
    select_keys,
    split_of,
    trainable_start,
)
from generation.music.encoding import HOLD, MIDI_PITCHES, NO_CHORD, REST, Note, notes_to_tokens, parse_chord
from generation.music.midi import melody_to_midi
from tests.generation.corpus_fixtures import corpus_dir, small_corpus  # noqa: F401


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


def test_validation_batches_are_one_pass_in_the_original_key(small_corpus):  # noqa: F811
    batches = list(melody_batches(small_corpus, split="validation", batch_size=4, seed=0, segment_steps=32))
    piece = small_corpus.validation[0]
    start = trainable_start(piece.melody)
    expected = (len(piece.melody) - start - 32) // 32 + 1
    assert sum(len(b["melody"]) for b in batches) == expected
    assert batches[0]["chords"][0].tolist() == piece.chords[start : start + 32].tolist()
    assert start == np.flatnonzero(piece.melody < MIDI_PITCHES)[8]


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
