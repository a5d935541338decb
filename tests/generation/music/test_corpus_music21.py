"""music21's other bundled corpora as training data (generation/music/corpus.py, MUSIC21_SOURCES).

Palestrina, Monteverdi, the Trecento and the string quartets are read like the chorales: the top line
and a chord per beat; pieces that cannot be read or used are skipped and counted; the split is the
chorales' rule on the piece key; "a+b" joins sources.
"""

import numpy as np
import pytest
from music21 import meter, note, stream

from generation.music import corpus as corpus_module
from generation.music.corpus import (
    CorpusError,
    load_corpus,
    music21_keys,
    parse_score,
    save_corpus,
    split_of,
)
from generation.music.encoding import HOLD, MIDI_PITCHES, NO_CHORD, REST


def test_the_sources_list_what_music21_ships_here():
    palestrina = music21_keys("palestrina")
    assert len(palestrina) == 1318 and all(
        k.startswith("palestrina/") and k.endswith(".krn") for k in palestrina
    )
    monteverdi = music21_keys("monteverdi")
    assert monteverdi and all(k.endswith(".mxl") and "_old" not in k for k in monteverdi)
    quartets = music21_keys("quartets")
    works = [k.rsplit(".", 1)[0] for k in quartets]
    assert len(works) == len(set(works)), "a movement stored as .krn and .mxl is read once"
    assert "beethoven/opus18no1/movement1.mxl" in quartets
    assert not any("k545" in k for k in quartets)  # Mozart's piano sonata is not a quartet
    assert music21_keys("trecento")


def valid(melody: np.ndarray) -> bool:
    previous = REST
    for token in melody.tolist():
        if (token == HOLD and previous == REST) or MIDI_PITCHES <= token < REST:
            return False
        previous = token
    return True


def test_palestrina_is_read_like_the_chorales_and_cached(tmp_path):
    corpus = load_corpus("palestrina:3", cache_dir=tmp_path)
    pieces = corpus.pieces
    assert len(pieces) + len(corpus.unsuitable) + len(corpus.skipped) == 3 and len(pieces) >= 2
    for piece in pieces:
        assert piece.split == split_of(piece.key) and piece.key.startswith("palestrina/")
        assert (
            piece.melody_part.lower() in {"cantus", "canto", "soprano", "superius"}
            or "cant" in piece.melody_part.lower()
        )
        assert valid(piece.melody) and len(piece.melody) == len(piece.chords)
        assert piece.beats_per_bar == 4  # a 4/2 bar: four half-note beats on the chorales' grid
        assert piece.bar_starts and (piece.chords != NO_CHORD).mean() > 0.8
        beats = piece.chords.reshape(-1, 4)
        assert (beats == beats[:, :1]).all()  # one chord per beat
        notes = np.flatnonzero(piece.melody < MIDI_PITCHES)
        assert np.median(np.diff(notes)) >= 2  # minims and semibreves: no faster than the chorales
    again = load_corpus("palestrina:3", cache_dir=tmp_path)
    assert [p.key for p in again.pieces] == [p.key for p in pieces]
    assert all(np.array_equal(a.melody, b.melody) for a, b in zip(again.pieces, pieces, strict=True))
    assert len(list(tmp_path.glob("palestrina-m*.npz"))) == 1


def test_joined_sources_keep_each_piece_and_its_split(corpus_dir, small_corpus):
    joined = load_corpus("chorales:10+palestrina:3", cache_dir=corpus_dir)
    chorales = [p for p in joined.pieces if p.key.startswith("bach/")]
    assert [p.key for p in chorales] == [p.key for p in small_corpus.pieces]
    assert all(np.array_equal(a.melody, b.melody) for a, b in zip(chorales, small_corpus.pieces, strict=True))
    assert len(joined.pieces) == len(small_corpus.pieces) + len(
        load_corpus("palestrina:3", cache_dir=corpus_dir).pieces
    )
    for split in ("train", "validation", "heldout"):
        assert all(p.split == split for p in joined.split(split))
    with pytest.raises(CorpusError, match="twice"):
        load_corpus("palestrina:3+palestrina:3", cache_dir=corpus_dir)
    with pytest.raises(CorpusError, match="cannot name a saved corpus"):
        save_corpus("palestrina", [], cache_dir=corpus_dir)


def score(parts: dict[str, list[int]], signature: str = "4/4") -> stream.Score:
    """A score of named parts, each a list of quarter-note pitches (0: a quarter rest)."""
    result = stream.Score()
    for name, pitches in parts.items():
        part = stream.Part()
        part.append(meter.TimeSignature(signature))
        for pitch in pitches:
            part.append(note.Rest(quarterLength=1) if pitch == 0 else note.Note(pitch, quarterLength=1))
        measured = part.makeMeasures()
        measured.partName = name  # set on the measured part: makeMeasures gives a new stream
        result.insert(0, measured)
    return result


def test_a_quartet_melody_is_its_top_instrumental_line():
    quartet = score(
        {
            "Violin I": [76, 77, 79, 81] * 4,
            "Violin II": [72] * 16,
            "Viola": [67] * 16,
            "Violoncello": [48] * 16,
        }
    )
    piece = parse_score(quartet, "q", beats_per_bar=4, title="q", instrumental=True)
    assert piece.melody_part == "Violin I" and piece.melody[:5].tolist() == [76, HOLD, HOLD, HOLD, 77]
    with pytest.raises(CorpusError, match="no vocal part"):
        parse_score(quartet, "q", beats_per_bar=4, title="q")  # a sung corpus never takes a violin


def test_unusable_pieces_are_skipped_and_counted(tmp_path, monkeypatch):
    folder = tmp_path / "m21" / "testset"
    folder.mkdir(parents=True)
    sung = [67, 69, 71, 72, 74, 72, 71, 69, 67, 65, 64, 62, 60, 62, 64, 65]
    score({"Cantus": sung, "Tenor": [55] * 16}).write("musicxml", fp=folder / "good.xml")
    score({"Violin I": sung, "Violoncello": [48] * 16}).write("musicxml", fp=folder / "strings.xml")
    score({"Cantus": sung[:15], "Tenor": [55] * 15}, signature="5/8").write("musicxml", fp=folder / "odd.xml")
    score({"Cantus": sung[:6], "Tenor": [55] * 6}).write("musicxml", fp=folder / "short.xml")
    (folder / "broken.xml").write_text("<score-partwise><part id='P1'><measure")
    monkeypatch.setattr(corpus_module, "music21_root", lambda: tmp_path / "m21")
    monkeypatch.setitem(corpus_module.MUSIC21_SOURCES, "testset", (("testset",), (".xml",), True))
    corpus = load_corpus("testset", cache_dir=tmp_path / "cache")
    assert [p.key for p in corpus.pieces] == ["testset/good.xml"]
    assert corpus.pieces[0].melody_part == "Cantus" and corpus.pieces[0].beats_per_bar == 4
    assert [line.split(":")[0] for line in corpus.skipped] == ["testset/broken.xml"]
    reasons = dict(line.split(": ", 1) for line in corpus.unsuitable)
    assert sorted(reasons) == ["testset/odd.xml", "testset/short.xml", "testset/strings.xml"]
    assert "whole number of beats" in reasons["testset/odd.xml"]
    assert "no vocal part" in reasons["testset/strings.xml"]
    assert "melody notes or fewer" in reasons["testset/short.xml"]
    cached = load_corpus("testset", cache_dir=tmp_path / "cache")  # the counts come back from the cache
    assert cached.skipped == corpus.skipped and cached.unsuitable == corpus.unsuitable
