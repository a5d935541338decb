"""One corrupt .mid never stops a folder: load_corpus skips it and names it (warning + Corpus.skipped)."""

import logging

import numpy as np

from generation.music.corpus import load_corpus
from generation.music.encoding import Note, notes_to_tokens, parse_chord
from generation.music.midi import melody_to_midi


def test_unreadable_midi_files_are_skipped_and_named(tmp_path, caplog):
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(3):
        notes = [Note(60 + (i + j) % 7, 4 * j, 4) for j in range(16)]
        chords = np.array([parse_chord(["C", "F", "G", "Am"][j % 4]) for j in range(64)])
        melody_to_midi(notes_to_tokens(notes, 64), chords, tempo_bpm=90).write(str(folder / f"song{i}.mid"))
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (folder / "empty.midi").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="generation.music.corpus"):
        corpus = load_corpus(str(folder), cache_dir=tmp_path / "cache")
    assert sorted(p.key for p in corpus.pieces) == ["song0", "song1", "song2"]
    assert [line.split(":")[0] for line in corpus.skipped] == ["corrupt", "empty"]
    assert all("not a readable MIDI file" in line for line in corpus.skipped)
    assert "corrupt" in caplog.text and "empty" in caplog.text
    # From the cache, the same pieces and the same names.
    again = load_corpus(str(folder), cache_dir=tmp_path / "cache")
    assert [p.key for p in again.pieces] == [p.key for p in corpus.pieces]
    assert again.skipped == corpus.skipped
