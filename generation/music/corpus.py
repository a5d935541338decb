"""Chord-annotated melody corpora, encoded once and cached as arrays.

    corpus = load_corpus("chorales")            # music21's bundled Bach chorales
    corpus = load_corpus("chorales", limit=12)  # a small, split-balanced subset (tests)
    corpus = load_corpus("/data/midi")          # any folder of MIDI files with a melody track
    corpus = load_corpus("my-recordings")       # a corpus saved with save_corpus (e.g. audio ingest)
    corpus = load_corpus("palestrina:200")      # another of music21's bundled corpora (MUSIC21_SOURCES)
    corpus = load_corpus("chorales+palestrina") # several sources as one corpus, each cached on its own

Chorales: the soprano is the melody; the chord on each beat is recognised from all four voices
(generation.music.chords). music21's other bundled corpora (Palestrina's masses, Monteverdi's
madrigals, the Trecento pieces, the string quartets of Haydn, Mozart and Beethoven) are read the same way:
the top line (a sung part chosen by choose_melody_part; the highest instrumental part of a quartet) and
a chord per beat from every part; a piece that cannot be read or used is skipped and counted
(Corpus.skipped, Corpus.unsuitable). Split: whole pieces by a hash of their key — sha1(key) mod 10 == 0 is
held out (never trained on, never used for model selection: the listening study's progressions and
"real music"), == 1 is validation, the rest train. The rule depends on nothing but the key, so a
piece never changes side when the corpus grows.

The cache lives in `<cache_dir>/<name>-<selection hash>-e<ENCODING_VERSION>c<CORPUS_VERSION>.npz`;
cache_dir defaults to $DOCBGM_CORPUS_DIR, else $DOCBGM_VAR_DIR/corpora, else <repo>/var/corpora. A
cache with another encoding or corpus version is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from generation.music.chords import chords_from_roll
from generation.music.encoding import (
    ENCODING_VERSION,
    HOLD,
    MAX_BAR_BEATS,
    MIDI_PITCHES,
    REST,
    STEPS_PER_BEAT,
    Note,
    bar_positions,
    notes_to_tokens,
    transpose,
)
from generation.paths import var_dir

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "heldout")
# What the corpus readers extract, versioned apart from the token encoding (which checkpoints depend on):
# 2 = the melody is the sung top line (choose_melody_part), not the first part, and pieces know their bars.
CORPUS_VERSION = 2
SKIP_FIRST_NOTES = 8  # the paper: "the first 8 notes of each musical work lack context" — not trained on
DEFAULT_TEMPO = 80.0  # the chorales carry no tempo marking; a calm chorale tempo for playback


class CorpusError(ValueError):
    """A corpus that cannot be found or read; the message says what to do."""


class UnreadablePiece(CorpusError):
    """One file of a folder cannot be read; the loader skips it and names it (Corpus.skipped)."""


@dataclass
class Piece:
    key: str  # unique within the corpus, e.g. "bach/bwv269"
    melody: np.ndarray  # (T,) int64 melody tokens
    chords: np.ndarray  # (T,) int64 chord indices
    tempo_bpm: float
    beats_per_bar: int
    title: str = ""
    melody_part: str = ""  # the part the melody was taken from ("Soprano"); "" for a MIDI melody track
    bar_starts: list[int] | None = None  # steps where full bars start; None: every bar from step 0

    @property
    def split(self) -> str:
        return split_of(self.key)

    def downbeats(self) -> np.ndarray:
        """(n,) steps at which a full bar starts, ascending: a pickup is not a bar."""
        if self.bar_starts is not None:
            return np.asarray(self.bar_starts, dtype=np.int64)
        return np.arange(0, len(self.melody), self.beats_per_bar * STEPS_PER_BEAT, dtype=np.int64)

    def positions(self) -> np.ndarray:
        """(T,) steps since the bar began at every step (encoding.bar_positions over `downbeats`)."""
        return bar_positions(len(self.melody), beats_per_bar=self.beats_per_bar, bar_starts=self.downbeats())


@dataclass
class Corpus:
    name: str
    train: list[Piece] = field(default_factory=list)
    validation: list[Piece] = field(default_factory=list)
    heldout: list[Piece] = field(default_factory=list)
    encoding_version: int = ENCODING_VERSION
    # "key: reason" for every file of a MIDI folder that could not be read (skipped, not fatal).
    skipped: list[str] = field(default_factory=list)
    # "key: reason" for every piece that was read but cannot be used (no sung part, an odd metre, too
    # few notes, no full bar); empty for a cache built before this was recorded.
    unsuitable: list[str] = field(default_factory=list)

    def split(self, name: str) -> list[Piece]:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {name!r}")
        return getattr(self, name)

    @property
    def pieces(self) -> list[Piece]:
        return self.train + self.validation + self.heldout


SPLIT_RULE = "whole pieces by sha1(piece key) % 10: 0 heldout, 1 validation, else train"  # split_of, in words


def split_of(key: str) -> str:
    """The fixed split of a whole piece: held out if sha1(key) % 10 == 0, validation if 1, else train."""
    bucket = int(hashlib.sha1(key.encode()).hexdigest(), 16) % 10
    return "heldout" if bucket == 0 else "validation" if bucket == 1 else "train"


def default_cache_dir() -> Path:
    if os.environ.get("DOCBGM_CORPUS_DIR"):
        return Path(os.environ["DOCBGM_CORPUS_DIR"])
    return var_dir() / "corpora"


def select_keys(keys: list[str], limit: int | None) -> list[str]:
    """All keys, or `limit` of them with every split represented (about 80/10/10)."""
    keys = sorted(keys)
    if limit is None or limit >= len(keys):
        return keys
    by_split = {s: [k for k in keys if split_of(k) == s] for s in SPLITS}
    small = max(1, round(limit * 0.1))
    counts = {"validation": small, "heldout": small}
    counts["train"] = max(1, limit - 2 * small)
    return sorted(k for s in SPLITS for k in by_split[s][: counts[s]])


# ------------------------------------------------------------------------------------------- sources


def chorale_keys() -> list[str]:
    from music21 import corpus as m21corpus

    return list(dict.fromkeys(m21corpus.chorales.Iterator(returnType="filename")))


# Part names that are never the sung melody: the instruments of the cantata settings among the chorales
# (trumpets, oboes, violins, horns, ... doubling or ornamenting the choir). Matched on words, any case.
INSTRUMENT_WORDS = frozenset(
    {
        "trumpet", "tromba", "clarino", "cornet", "cornetto", "horn", "corno", "trombone", "timpani", "oboe", "flute", "flauto",
        "traverso", "recorder", "bassoon", "fagotto", "violin", "violino", "viola", "violoncello",
        "cello", "continuo", "organ", "organo", "bc", "strings", "instrument", "piano", "keyboard",
    }
)  # fmt: skip
VOICE_WORDS = ("soprano", "alto", "tenor", "bass", "canto", "cantus", "discant")
MAX_MELODY_REST_SHARE = 0.5  # a top line silent half the time is an obbligato, not the tune


@dataclass(frozen=True)
class PartSummary:
    """What choosing the melody looks at in one part: its name and how it sounds."""

    index: int
    name: str
    mean_pitch: float  # of its top notes; NaN without notes
    rest_share: float  # of the piece's length in which the part is silent

    @property
    def words(self) -> set[str]:
        """The name's words, each also without a plural s ("Flutes" -> flutes, flute)."""
        words = set(re.findall(r"[a-z]+", self.name.lower()))
        return words | {w[:-1] for w in words if len(w) > 3 and w.endswith("s")}

    @property
    def is_instrument(self) -> bool:
        """Named as an instrument and not as a voice: "Soprano Oboe 1 Violin1" is the doubled soprano."""
        return bool(self.words & INSTRUMENT_WORDS) and not self.words & set(VOICE_WORDS)

    @property
    def is_soprano(self) -> bool:
        initial = self.name.strip(" .").lower() == "s"
        return not self.is_instrument and (
            initial or bool(self.words & {"soprano", "canto", "cantus", "discant"})
        )

    @property
    def is_voice(self) -> bool:
        initial = self.name.strip(" .").lower() in {"s", "a", "t", "b"}
        return not self.is_instrument and (initial or bool(self.words & set(VOICE_WORDS)))


def choose_melody_part(parts: list[PartSummary]) -> PartSummary:
    """The sung top line of a chorale: never an instrument, nor a part silent most of the time.

    The first part named Soprano (or Canto/Cantus/Discant) wins; else the highest (mean pitch) voice
    part; else, in a score whose parts carry no voice names, the highest part that is not named as an
    instrument. Each step considers only parts sounding at least half of the piece when there are any.

    Raises:
        CorpusError: no part qualifies (every part is an instrument).
    """
    sung = [p for p in parts if not p.is_instrument]
    if not sung:
        raise CorpusError("no vocal part: " + ", ".join(p.name or f"part {p.index}" for p in parts))
    sounding = [p for p in sung if p.rest_share < MAX_MELODY_REST_SHARE] or sung
    sopranos = [p for p in sounding if p.is_soprano]
    if sopranos:
        return sopranos[0]
    voices = [p for p in sounding if p.is_voice] or sounding
    return max(voices, key=lambda p: -math.inf if math.isnan(p.mean_pitch) else p.mean_pitch)


def _top_notes(part, steps_per_quarter: float = STEPS_PER_BEAT) -> dict[int, Note]:
    """The part's top line on the grid: the highest pitch of each onset, by start step."""
    top: dict[int, Note] = {}
    for element in part.stripTies().flatten().notes:
        start = round(float(element.offset) * steps_per_quarter)
        end = round(float(element.offset + element.quarterLength) * steps_per_quarter)
        if end <= start:
            continue  # grace notes
        pitch = max(p.midi for p in element.pitches)
        if start not in top or pitch > top[start].pitch:
            top[start] = Note(pitch, start, end - start)
    return top


def _summary(index: int, part, top: dict[int, Note], n_steps: int) -> PartSummary:
    sounding = np.zeros(n_steps, dtype=bool)
    for note in top.values():
        sounding[note.start : note.start + note.duration] = True
    pitches = [note.pitch for note in top.values()]
    return PartSummary(
        index=index,
        name=str(part.partName or ""),
        mean_pitch=float(np.mean(pitches)) if pitches else math.nan,
        rest_share=float(1.0 - sounding.mean()) if n_steps else 1.0,
    )


def bar_starts_of(part, beats_per_bar: int, steps_per_quarter: float = STEPS_PER_BEAT) -> list[int]:
    """Steps at which a full-length bar of `part` starts: a pickup and the halves of a split bar are left out."""
    from music21 import stream

    full = beats_per_bar * STEPS_PER_BEAT
    starts = []
    for measure in part.getElementsByClass(stream.Measure):
        if round(float(measure.duration.quarterLength) * steps_per_quarter) == full:
            starts.append(round(float(measure.offset) * steps_per_quarter))
    return starts


def parse_chorale(key: str) -> Piece:
    """One chorale: its sung top line (choose_melody_part) -> tokens, all parts -> one chord per beat."""
    from music21 import corpus as m21corpus
    from music21 import meter

    score = m21corpus.parse(key)
    signatures = list(score.recurse().getElementsByClass(meter.TimeSignature))
    beats = int(signatures[0].numerator) if signatures else 4
    # The bundled chorales carry no titles, only file names: "bach/bwv10.7" -> "BWV 10.7".
    title = "BWV " + key.rsplit("bwv", 1)[1] if "bwv" in key else key
    return parse_score(score, key, beats_per_bar=beats, title=title)


def parse_score(
    score,
    key: str,
    *,
    beats_per_bar: int,
    title: str,
    beat_quarters: float = 1.0,
    instrumental: bool = False,
) -> Piece:
    """A music21 score's top line -> tokens, all its parts -> one chord per beat.

    Args:
        score: a parsed music21 Score.
        key: the piece's key in its corpus.
        beats_per_bar: beats in a bar (of `beat_quarters` quarter notes each).
        title: the piece's title.
        beat_quarters: quarter notes in a beat of the grid (1 for the chorales; 2 for music in a half-note
            metre, 4/2 or 2/2, so that its minims move at the chorales' pace).
        instrumental: no part is sung (a string quartet): the melody is the highest sounding part.

    Raises:
        CorpusError: the score has no parts, or no part can be the melody.
    """
    parts = list(score.parts)
    if not parts:
        raise CorpusError(f"{key} has no parts")
    steps_per_quarter = STEPS_PER_BEAT / beat_quarters
    n_steps = int(math.ceil(float(score.highestTime) / beat_quarters)) * STEPS_PER_BEAT
    roll = np.zeros((n_steps, MIDI_PITCHES), dtype=bool)
    tops = []
    for part in parts:
        for element in part.stripTies().flatten().notes:
            start = round(float(element.offset) * steps_per_quarter)
            end = round(float(element.offset + element.quarterLength) * steps_per_quarter)
            for pitch in element.pitches:
                roll[start:end, pitch.midi] = True
        tops.append(_top_notes(part, steps_per_quarter))
    summaries = [_summary(i, p, tops[i], n_steps) for i, p in enumerate(parts)]
    try:
        chosen = top_instrumental_part(summaries) if instrumental else choose_melody_part(summaries)
    except CorpusError as exc:
        raise CorpusError(f"{key}: {exc}") from None
    return Piece(
        key=key,
        melody=notes_to_tokens(list(tops[chosen.index].values()), n_steps),
        chords=chords_from_roll(roll),
        tempo_bpm=DEFAULT_TEMPO,
        beats_per_bar=beats_per_bar,
        title=title,
        melody_part=chosen.name,
        bar_starts=bar_starts_of(parts[chosen.index], beats_per_bar, steps_per_quarter),
    )


def top_instrumental_part(parts: list[PartSummary]) -> PartSummary:
    """The melody of a piece with no sung part: the highest (mean pitch) part sounding at least half of it.

    Raises:
        CorpusError: no part has notes.
    """
    with_notes = [p for p in parts if not math.isnan(p.mean_pitch)]
    if not with_notes:
        raise CorpusError("no part has notes")
    sounding = [p for p in with_notes if p.rest_share < MAX_MELODY_REST_SHARE] or with_notes
    return max(sounding, key=lambda p: p.mean_pitch)


# music21's other bundled corpora, read like the chorales. Each is {name: (folders under music21/corpus,
# file suffixes, sung)}; a folder holding a work twice (.krn and .mxl) gives it once, the first suffix.
MUSIC21_SOURCES: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {
    "palestrina": (("palestrina",), (".krn",), True),  # 1 318 mass movements, Humdrum
    "monteverdi": (("monteverdi",), (".mxl",), True),  # madrigals, books 3-5 (the .rntxt are analyses)
    "trecento": (("trecento",), (".xml", ".mxl"), True),  # 14th-century Italian songs
    "quartets": (
        ("haydn", "mozart/k80", "mozart/k155", "mozart/k156", "mozart/k458", "beethoven"),
        (".mxl", ".krn"),
        False,
    ),  # string quartet movements: the melody is the top (first violin) line
}
# What the music21-source readers extract; bump to rebuild their caches (the chorales' stay valid).
MUSIC21_VERSION = 1


def music21_root() -> Path:
    from music21 import corpus as m21corpus

    return Path(m21corpus.__file__).parent


def music21_keys(source: str) -> list[str]:
    """The files of a MUSIC21_SOURCES corpus as keys ("palestrina/Agnus_01.krn"), relative to music21/corpus."""
    folders, suffixes, _ = MUSIC21_SOURCES[source]
    root = music21_root()
    keys: dict[str, str] = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in suffixes or path.stem.endswith("_old"):
                continue
            work = str(path.relative_to(root).with_suffix(""))
            best = keys.get(work)
            if best is None or suffixes.index(path.suffix) < suffixes.index(Path(best).suffix):
                keys[work] = str(path.relative_to(root))
    return sorted(keys.values())


def parse_music21_piece(source: str, key: str) -> Piece:
    """One piece of a MUSIC21_SOURCES corpus, read like a chorale (parse_score).

    The beat is the time signature's: a half note in 4/2, 3/2 or 2/2 (Palestrina's and much of the
    Trecento's notation), else a quarter note (6/8: three quarter-note beats a bar).

    Raises:
        UnreadablePiece: music21 cannot parse the file.
        CorpusError: the piece cannot be used (no sung part, a bar that is not whole beats or too long).
    """
    from music21 import converter, meter

    try:
        score = converter.parse(music21_root() / key)
    except Exception as error:  # music21 raises many types for a damaged file
        raise UnreadablePiece(f"music21 cannot parse it ({type(error).__name__}: {error})") from None
    signatures = list(score.recurse().getElementsByClass(meter.TimeSignature))
    if not signatures:
        raise CorpusError(f"{key}: no time signature")
    signature = signatures[0]
    beat_quarters = 2.0 if signature.denominator == 2 else 1.0
    beats = float(signature.barDuration.quarterLength) / beat_quarters
    if beats != int(beats) or not 1 <= beats <= MAX_BAR_BEATS:
        raise CorpusError(f"{key}: a {signature.ratioString} bar is not a whole number of beats (1-8)")
    _, _, sung = MUSIC21_SOURCES[source]
    piece = parse_score(
        score,
        key,
        beats_per_bar=int(beats),
        title=Path(key).stem.replace("_", " "),
        beat_quarters=beat_quarters,
        instrumental=not sung,
    )
    if not piece.bar_starts:
        raise CorpusError(f"{key}: no full {signature.ratioString} bar in its top line")
    sounding = (piece.melody != REST).mean() if len(piece.melody) else 0.0
    if sounding <= 1 - MAX_MELODY_REST_SHARE:
        raise CorpusError(
            f"{key}: the top line ({piece.melody_part or 'unnamed'}) rests half the piece or more"
        )
    return piece


def parse_midi_piece(path: Path, root: Path) -> Piece:
    from generation.music.midi import MidiError, midi_meter, midi_to_tokens

    try:
        melody, chords = midi_to_tokens(path)
        tempo, beats = midi_meter(path)
    except MidiError as error:
        raise UnreadablePiece(str(error)) from None
    key = str(path.relative_to(root).with_suffix(""))
    return Piece(key=key, melody=melody, chords=chords, tempo_bpm=tempo, beats_per_bar=beats, title=path.stem)


# --------------------------------------------------------------------------------------------- cache


def _write(path: Path, pieces: list[Piece]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = [
        {
            "key": p.key,
            "title": p.title,
            "tempo_bpm": p.tempo_bpm,
            "beats_per_bar": p.beats_per_bar,
            "steps": len(p.melody),
            "melody_part": p.melody_part,
            "bar_starts": None if p.bar_starts is None else [int(s) for s in p.bar_starts],
        }
        for p in pieces
    ]
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        tmp,
        melody=np.concatenate([p.melody for p in pieces]).astype(np.int16)
        if pieces
        else np.zeros(0, np.int16),
        chords=np.concatenate([p.chords for p in pieces]).astype(np.int8) if pieces else np.zeros(0, np.int8),
        meta=np.array(json.dumps(meta)),
        encoding_version=np.array(ENCODING_VERSION),
        corpus_version=np.array(CORPUS_VERSION),
    )
    tmp.replace(path)  # atomic: a parallel reader sees the old cache or the new one, never half of it


def _read(path: Path, *, same_reader: bool = False) -> list[Piece] | None:
    """The stored pieces, or None when they are from another encoding version (or, with `same_reader`,
    another CORPUS_VERSION: a cache of what this code's readers would extract; a saved corpus is not)."""
    with np.load(path) as data:
        if int(data["encoding_version"]) != ENCODING_VERSION:
            return None
        version = int(data["corpus_version"]) if "corpus_version" in data else 1
        if same_reader and version != CORPUS_VERSION:
            return None
        melody, chords = data["melody"].astype(np.int64), data["chords"].astype(np.int64)
        meta = json.loads(str(data["meta"]))
    pieces, offset = [], 0
    for m in meta:
        end = offset + m["steps"]
        pieces.append(
            Piece(
                m["key"],
                melody[offset:end],
                chords[offset:end],
                m["tempo_bpm"],
                m["beats_per_bar"],
                m["title"],
                m.get("melody_part", ""),
                m.get("bar_starts"),
            )
        )
        offset = end
    return pieces


def _build(
    name: str, keys: list[str], parse, cache_dir: Path, progress: bool
) -> tuple[list[Piece], list[str], list[str]]:
    """(pieces, "key: reason" of every unreadable file, "key: reason" of every unsuitable piece), from
    the cache when it is there.

    One corrupt file never stops a folder: it is skipped, named in a warning and in the list (kept
    beside the cache, so a cached load names it too). A piece that reads but cannot be used (no part
    for the melody, an unusable metre, no more than SKIP_FIRST_NOTES notes) is left out and counted.
    """
    digest = hashlib.sha1("\n".join(keys).encode()).hexdigest()[:10]
    path = cache_dir / f"{name}-{digest}-e{ENCODING_VERSION}c{CORPUS_VERSION}.npz"
    skipped_path = path.with_suffix(".skipped.json")
    if path.exists():
        pieces = _read(path, same_reader=True)
        if pieces is not None:
            stored = json.loads(skipped_path.read_text()) if skipped_path.exists() else []
            # A list: a cache written before unsuitable pieces were recorded.
            skipped, unsuitable = (
                (stored, []) if isinstance(stored, list) else (stored["unreadable"], stored["unsuitable"])
            )
            for line in skipped:
                logger.warning("corpus %s: skipped unreadable %s", name, line)
            return pieces, skipped, unsuitable
    pieces, skipped, unsuitable = [], [], []
    for key in tqdm(keys, desc=f"encoding {name}", disable=not progress, unit="piece"):
        try:
            piece = parse(key)
        except UnreadablePiece as error:
            skipped.append(f"{key}: {error}")
            logger.warning("corpus %s: skipped unreadable %s: %s", name, key, error)
            continue
        except CorpusError as error:
            unsuitable.append(f"{key}: {error}")
            continue
        if (piece.melody < MIDI_PITCHES).sum() > SKIP_FIRST_NOTES:
            pieces.append(piece)
        else:
            unsuitable.append(f"{key}: {SKIP_FIRST_NOTES} melody notes or fewer")
    _write(path, pieces)
    skipped_path.write_text(json.dumps({"unreadable": skipped, "unsuitable": unsuitable}))
    if skipped or unsuitable:
        logger.info(
            "corpus %s: %d pieces, %d unreadable, %d unsuitable",
            name,
            len(pieces),
            len(skipped),
            len(unsuitable),
        )
    return pieces, skipped, unsuitable


def save_corpus(name: str, pieces: list[Piece], *, cache_dir: Path | None = None) -> Path:
    """Store pieces as the named corpus `name` (loadable with load_corpus(name))."""
    if not name or "/" in name or "+" in name or name == "chorales" or name in MUSIC21_SOURCES:
        raise CorpusError(
            f"{name!r} cannot name a saved corpus (no slashes or '+', not 'chorales' nor one of "
            f"{sorted(MUSIC21_SOURCES)})"
        )
    path = (cache_dir or default_cache_dir()) / f"{name}.npz"
    _write(path, pieces)
    return path


def load_corpus(
    name: str = "chorales", *, cache_dir: Path | None = None, limit: int | None = None, progress: bool = False
) -> Corpus:
    """The corpus `name`: "chorales", one of music21's other corpora (MUSIC21_SOURCES: "palestrina",
    "monteverdi", "trecento", "quartets"), a folder of MIDI files, or a saved corpus's name; or several
    of them joined by "+" ("chorales+palestrina"), each loaded (and cached) on its own and split by the
    same rule.

    A name may carry a limit after a colon ("chorales:12"), as the train command's --corpus does; in a
    joined name each source carries its own ("chorales+palestrina:200").
    """
    if "+" in name and not Path(name).exists():
        sources = [
            load_corpus(part, cache_dir=cache_dir, limit=limit, progress=progress) for part in name.split("+")
        ]
        corpus = Corpus(name=name)
        for source in sources:
            for split in SPLITS:
                corpus.split(split).extend(source.split(split))
            corpus.skipped += source.skipped
            corpus.unsuitable += source.unsuitable
        keys = [p.key for p in corpus.pieces]
        if len(set(keys)) != len(keys):
            raise CorpusError(f"{name!r} names a piece twice: join different sources")
        return corpus
    if ":" in name and name.rsplit(":", 1)[1].isdigit() and not Path(name).exists():
        name, count = name.rsplit(":", 1)
        limit = int(count)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    unsuitable: list[str] = []
    if name == "chorales":
        keys = select_keys(chorale_keys(), limit)
        pieces, skipped, unsuitable = _build("chorales", keys, parse_chorale, cache_dir, progress)
    elif name in MUSIC21_SOURCES:
        keys = select_keys(music21_keys(name), limit)
        pieces, skipped, unsuitable = _build(
            f"{name}-m{MUSIC21_VERSION}",
            keys,
            lambda k: parse_music21_piece(name, k),
            cache_dir,
            progress,
        )
    elif Path(name).is_dir():
        root = Path(name).resolve()
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".mid", ".midi"})
        if not files:
            raise CorpusError(f"{root} has no .mid or .midi files")
        by_key = {str(p.relative_to(root).with_suffix("")): p for p in files}
        keys = select_keys(list(by_key), limit)
        folder = hashlib.sha1(str(root).encode()).hexdigest()[:6]
        pieces, skipped, unsuitable = _build(
            f"midi-{root.name}-{folder}",
            keys,
            lambda k: parse_midi_piece(by_key[k], root),
            cache_dir,
            progress,
        )
    else:
        path = cache_dir / f"{name}.npz"
        if not path.exists():
            raise CorpusError(
                f"no corpus {name!r}: not 'chorales', not a folder, and no saved corpus {path} "
                "(save one with generation.music.corpus.save_corpus)"
            )
        pieces = _read(path)
        if pieces is None:
            raise CorpusError(f"{path} was saved with another encoding version: make it again")
        keys = select_keys([p.key for p in pieces], limit)
        pieces = [p for p in pieces if p.key in set(keys)]
        skipped = []
    corpus = Corpus(name=name, skipped=skipped, unsuitable=unsuitable)
    for piece in pieces:
        corpus.split(piece.split).append(piece)
    return corpus


# ------------------------------------------------------------------------------------------- batches


def trainable_start(melody: np.ndarray) -> int:
    """The step of the 9th note's onset: the first 8 notes are left out of training (the paper)."""
    onsets = np.flatnonzero(melody < MIDI_PITCHES)
    return int(onsets[SKIP_FIRST_NOTES]) if len(onsets) > SKIP_FIRST_NOTES else len(melody)


def _segment(
    melody: np.ndarray, chords: np.ndarray, start: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """A window; a leading hold becomes the onset of the note sounding there, so every segment starts
    the way generation does (no hold at step 0)."""
    mel = melody[start : start + length].copy()
    if mel[0] == HOLD:
        back = start
        while back > 0 and melody[back] == HOLD:
            back -= 1
        mel[0] = melody[back] if melody[back] < MIDI_PITCHES else REST
    return mel, chords[start : start + length].copy()


def window_starts(piece: Piece, length: int) -> np.ndarray:
    """(n,) the steps a training window of `length` may start at: bar starts at or after the 9th note.

    Starts whose window would run past the piece are left out, unless that leaves none: then the first
    bar start at or after the 9th note (the window is padded with rests). Empty if the piece has no bar
    start there.
    """
    bars = piece.downbeats()
    bars = bars[bars >= trainable_start(piece.melody)]
    fitting = bars[bars + length <= len(piece.melody)]
    return fitting if len(fitting) else bars[:1]


def melody_batches(
    corpus: Corpus,
    *,
    split: str,
    batch_size: int,
    seed: int,
    segment_steps: int = 100,
    bar_position: bool = False,
) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of `segment_steps`-step windows: {"melody": (B, T) int64, "chords": (B, T) int64}, and
    with `bar_position` also "position": (B, T) int64, the steps since the bar began (Piece.positions).

    Every window starts on a downbeat (a bar start, `window_starts`) at or after the piece's 9th note,
    so step 0 of training is where step 0 of generation is: the first beat of a bar. "train": endless
    random windows, each transposed to a random one of 12 keys (-5..+6 semitones, skipping a shift that
    leaves the MIDI range), deterministic for `seed`. Other splits: one pass in the original key, in a
    fixed order, each window at the first bar start after the previous one ends. Pieces shorter than a
    window are padded with rests and NC on the right. `bar_position` adds the positions and changes
    nothing else: the same seed gives the same windows, keys and order with it or without.
    """
    prepared = []
    for piece in corpus.split(split):
        starts = window_starts(piece, segment_steps)
        if not len(starts):
            continue
        melody, chords = piece.melody, piece.chords
        short = int(starts[0]) + segment_steps - len(melody)
        if short > 0:
            melody = np.concatenate([melody, np.full(short, REST)])
            chords = np.concatenate([chords, np.full(short, 24)])
        position = None
        if bar_position:
            position = bar_positions(
                len(melody), beats_per_bar=piece.beats_per_bar, bar_starts=piece.downbeats()
            )
        prepared.append((melody, chords, starts, position))
    if not prepared:
        raise CorpusError(f"corpus {corpus.name!r} has no usable pieces in its {split} split")
    if split == "train":
        return _train_batches(prepared, batch_size, seed, segment_steps)
    return _pass_batches(prepared, batch_size, segment_steps)


def _batch(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> dict[str, torch.Tensor]:
    """(melody, chords, position or None) windows -> one batch; "position" only when the windows have it."""
    batch = {
        "melody": torch.from_numpy(np.stack([m for m, _, _ in rows])),
        "chords": torch.from_numpy(np.stack([c for _, c, _ in rows])),
    }
    if rows[0][2] is not None:
        batch["position"] = torch.from_numpy(np.stack([p for _, _, p in rows]))
    return batch


def _train_batches(prepared, batch_size: int, seed: int, length: int) -> Iterator[dict[str, torch.Tensor]]:
    rng = np.random.default_rng(seed)
    # Sample pieces in proportion to their number of window starts, so every window is equally likely.
    counts = np.array([len(starts) for _, _, starts, _ in prepared], dtype=float)
    probs = counts / counts.sum()
    while True:
        rows = []
        for index in rng.choice(len(prepared), size=batch_size, p=probs):
            melody, chords, starts, position = prepared[index]
            at = int(starts[rng.integers(0, len(starts))])
            mel, chd = _segment(melody, chords, at, length)
            shift = int(rng.integers(-5, 7))
            pitched = mel[mel < MIDI_PITCHES]
            if len(pitched) and (pitched.min() + shift < 0 or pitched.max() + shift >= MIDI_PITCHES):
                shift = 0
            mel, chd = transpose(mel, chd, shift)
            rows.append((mel, chd, None if position is None else position[at : at + length].copy()))
        yield _batch(rows)


def _pass_starts(starts: np.ndarray, length: int) -> list[int]:
    """Non-overlapping window starts, each the first bar start at or after the previous window's end."""
    chosen: list[int] = []
    for start in starts.tolist():
        if not chosen or start >= chosen[-1] + length:
            chosen.append(int(start))
    return chosen


def _pass_batches(prepared, batch_size: int, length: int) -> Iterator[dict[str, torch.Tensor]]:
    windows = [
        (
            *_segment(melody, chords, at, length),
            None if position is None else position[at : at + length].copy(),
        )
        for melody, chords, starts, position in prepared
        for at in _pass_starts(starts, length)
    ]
    for i in range(0, len(windows), batch_size):
        yield _batch(windows[i : i + batch_size])
