"""Chord-annotated melody corpora, encoded once and cached as arrays.

    corpus = load_corpus("chorales")            # music21's bundled Bach chorales
    corpus = load_corpus("chorales", limit=12)  # a small, split-balanced subset (tests)
    corpus = load_corpus("/data/midi")          # any folder of MIDI files with a melody track
    corpus = load_corpus("my-recordings")       # a corpus saved with save_corpus (e.g. audio ingest)

Chorales: the soprano is the melody; the chord on each beat is recognised from all four voices
(generation.music.chords). Split: whole pieces by a hash of their key — sha1(key) mod 10 == 0 is
held out (never trained on, never used for model selection: the listening study's progressions and
"real music"), == 1 is validation, the rest train. The rule depends on nothing but the key, so a
piece never changes side when the corpus grows.

The cache lives in `<cache_dir>/<name>-<selection hash>-e<ENCODING_VERSION>.npz`; cache_dir defaults
to $DOCBGM_CORPUS_DIR, else $DOCBGM_VAR_DIR/corpora, else <repo>/var/corpora. A cache with another
encoding version is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
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
    MIDI_PITCHES,
    REST,
    STEPS_PER_BEAT,
    Note,
    notes_to_tokens,
    transpose,
)
from generation.paths import var_dir

SPLITS = ("train", "validation", "heldout")
SKIP_FIRST_NOTES = 8  # the paper: "the first 8 notes of each musical work lack context" — not trained on
DEFAULT_TEMPO = 80.0  # the chorales carry no tempo marking; a calm chorale tempo for playback


class CorpusError(ValueError):
    """A corpus that cannot be found or read; the message says what to do."""


@dataclass
class Piece:
    key: str  # unique within the corpus, e.g. "bach/bwv269"
    melody: np.ndarray  # (T,) int64 melody tokens
    chords: np.ndarray  # (T,) int64 chord indices
    tempo_bpm: float
    beats_per_bar: int
    title: str = ""

    @property
    def split(self) -> str:
        return split_of(self.key)


@dataclass
class Corpus:
    name: str
    train: list[Piece] = field(default_factory=list)
    validation: list[Piece] = field(default_factory=list)
    heldout: list[Piece] = field(default_factory=list)
    encoding_version: int = ENCODING_VERSION

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


def parse_chorale(key: str) -> Piece:
    """One chorale: soprano -> tokens, all voices -> one chord per beat."""
    from music21 import corpus as m21corpus
    from music21 import meter

    score = m21corpus.parse(key)
    parts = list(score.parts)
    if not parts:
        raise CorpusError(f"{key} has no parts")
    n_steps = int(math.ceil(float(score.highestTime) * STEPS_PER_BEAT / STEPS_PER_BEAT)) * STEPS_PER_BEAT
    roll = np.zeros((n_steps, MIDI_PITCHES), dtype=bool)
    soprano: dict[int, Note] = {}
    for index, part in enumerate(parts):
        for element in part.stripTies().flatten().notes:
            start = round(float(element.offset) * STEPS_PER_BEAT)
            end = round(float(element.offset + element.quarterLength) * STEPS_PER_BEAT)
            if end <= start:
                continue  # grace notes
            pitches = [p.midi for p in element.pitches]
            for pitch in pitches:
                roll[start:end, pitch] = True
            if index == 0 and (start not in soprano or max(pitches) > soprano[start].pitch):
                soprano[start] = Note(max(pitches), start, end - start)
    signatures = list(score.recurse().getElementsByClass(meter.TimeSignature))
    beats = signatures[0].numerator if signatures else 4
    # The bundled chorales carry no titles, only file names: "bach/bwv10.7" -> "BWV 10.7".
    title = "BWV " + key.rsplit("bwv", 1)[1] if "bwv" in key else key
    return Piece(
        key=key,
        melody=notes_to_tokens(list(soprano.values()), n_steps),
        chords=chords_from_roll(roll),
        tempo_bpm=DEFAULT_TEMPO,
        beats_per_bar=int(beats),
        title=title,
    )


def parse_midi_piece(path: Path, root: Path) -> Piece:
    from generation.music.midi import midi_meter, midi_to_tokens

    melody, chords = midi_to_tokens(path)
    tempo, beats = midi_meter(path)
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
    )
    tmp.replace(path)  # atomic: a parallel reader sees the old cache or the new one, never half of it


def _read(path: Path) -> list[Piece] | None:
    """The cached pieces, or None when the cache is from another encoding version."""
    with np.load(path) as data:
        if int(data["encoding_version"]) != ENCODING_VERSION:
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
            )
        )
        offset = end
    return pieces


def _build(name: str, keys: list[str], parse, cache_dir: Path, progress: bool) -> list[Piece]:
    digest = hashlib.sha1("\n".join(keys).encode()).hexdigest()[:10]
    path = cache_dir / f"{name}-{digest}-e{ENCODING_VERSION}.npz"
    if path.exists():
        pieces = _read(path)
        if pieces is not None:
            return pieces
    pieces = []
    for key in tqdm(keys, desc=f"encoding {name}", disable=not progress, unit="piece"):
        try:
            piece = parse(key)
        except CorpusError:
            continue
        if (piece.melody < MIDI_PITCHES).sum() > SKIP_FIRST_NOTES:
            pieces.append(piece)
    _write(path, pieces)
    return pieces


def save_corpus(name: str, pieces: list[Piece], *, cache_dir: Path | None = None) -> Path:
    """Store pieces as the named corpus `name` (loadable with load_corpus(name))."""
    if not name or "/" in name or name == "chorales":
        raise CorpusError(f"{name!r} cannot name a saved corpus (no slashes, not 'chorales')")
    path = (cache_dir or default_cache_dir()) / f"{name}.npz"
    _write(path, pieces)
    return path


def load_corpus(
    name: str = "chorales", *, cache_dir: Path | None = None, limit: int | None = None, progress: bool = False
) -> Corpus:
    """The corpus `name`: "chorales", a folder of MIDI files, or a saved corpus's name.

    A name may carry a limit after a colon ("chorales:12"), as the train command's --corpus does.
    """
    if ":" in name and name.rsplit(":", 1)[1].isdigit() and not Path(name).exists():
        name, count = name.rsplit(":", 1)
        limit = int(count)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    if name == "chorales":
        keys = select_keys(chorale_keys(), limit)
        pieces = _build("chorales", keys, parse_chorale, cache_dir, progress)
    elif Path(name).is_dir():
        root = Path(name).resolve()
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".mid", ".midi"})
        if not files:
            raise CorpusError(f"{root} has no .mid or .midi files")
        by_key = {str(p.relative_to(root).with_suffix("")): p for p in files}
        keys = select_keys(list(by_key), limit)
        folder = hashlib.sha1(str(root).encode()).hexdigest()[:6]
        pieces = _build(
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
    corpus = Corpus(name=name)
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


def melody_batches(
    corpus: Corpus, *, split: str, batch_size: int, seed: int, segment_steps: int = 100
) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of `segment_steps`-step windows: {"melody": (B, T) int64, "chords": (B, T) int64}.

    "train": endless random windows, each transposed to a random one of 12 keys (-5..+6 semitones,
    skipping a shift that leaves the MIDI range), deterministic for `seed`. Other splits: one pass of
    consecutive non-overlapping windows in the original key, in a fixed order. Windows start at or after
    each piece's 9th note; pieces shorter than a window are padded with rests and NC on the right.
    """
    pieces = [p for p in corpus.split(split) if len(p.melody) - trainable_start(p.melody) > 0]
    if not pieces:
        raise CorpusError(f"corpus {corpus.name!r} has no usable pieces in its {split} split")

    def padded(piece: Piece) -> tuple[np.ndarray, np.ndarray, int]:
        start = trainable_start(piece.melody)
        melody, chords = piece.melody, piece.chords
        short = start + segment_steps - len(melody)
        if short > 0:
            melody = np.concatenate([melody, np.full(short, REST)])
            chords = np.concatenate([chords, np.full(short, 24)])
        return melody, chords, start

    prepared = [padded(p) for p in pieces]
    if split == "train":
        return _train_batches(prepared, batch_size, seed, segment_steps)
    return _pass_batches(prepared, batch_size, segment_steps)


def _train_batches(prepared, batch_size: int, seed: int, length: int) -> Iterator[dict[str, torch.Tensor]]:
    rng = np.random.default_rng(seed)
    # Sample pieces in proportion to their usable length, so every window is equally likely.
    spans = np.array([len(m) - length - s + 1 for m, _, s in prepared], dtype=float)
    probs = spans / spans.sum()
    while True:
        mel_batch, chord_batch = [], []
        for index in rng.choice(len(prepared), size=batch_size, p=probs):
            melody, chords, start = prepared[index]
            at = start + int(rng.integers(0, len(melody) - length - start + 1))
            mel, chd = _segment(melody, chords, at, length)
            shift = int(rng.integers(-5, 7))
            pitched = mel[mel < MIDI_PITCHES]
            if len(pitched) and (pitched.min() + shift < 0 or pitched.max() + shift >= MIDI_PITCHES):
                shift = 0
            mel, chd = transpose(mel, chd, shift)
            mel_batch.append(mel)
            chord_batch.append(chd)
        yield {
            "melody": torch.from_numpy(np.stack(mel_batch)),
            "chords": torch.from_numpy(np.stack(chord_batch)),
        }


def _pass_batches(prepared, batch_size: int, length: int) -> Iterator[dict[str, torch.Tensor]]:
    windows = [
        _segment(melody, chords, at, length)
        for melody, chords, start in prepared
        for at in range(start, max(start, len(melody) - length) + 1, length)
    ]
    for i in range(0, len(windows), batch_size):
        chunk = windows[i : i + batch_size]
        yield {
            "melody": torch.from_numpy(np.stack([m for m, _ in chunk])),
            "chords": torch.from_numpy(np.stack([c for _, c in chunk])),
        }
