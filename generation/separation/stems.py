"""Rendered multitracks for training and evaluating the separation model, the way Slakh2100 does.

From MIDI pieces (music21's Bach chorales, or any folder of MIDI files) each source is rendered on
its own with FluidSynth:

* bass: the lowest voice on a bass program (acoustic, finger, pick or fretless bass), an octave
  down when it sits above the bass range;
* music: the inner voices on strings or piano (a few programs drawn per piece);
* vocals: the top voice on a voice-like program (choir aahs, voice oohs, synth voice);
* drums: a rock/ballad pattern at the piece's tempo on the General MIDI kit (channel 10).

A piece with three or more pitched parts keeps its parts (lowest = bass, highest = vocals, the
rest = music); with fewer parts each note goes by its place at its onset (the skyline: highest
sounding = vocals, lowest of several = bass, otherwise music).

Each stem is scaled to a common RMS and stored; random gains are applied when batches are drawn, so
every epoch hears new mixes. Pieces go to train / validation / test by a hash of their name (80/10/10),
so a piece never appears in two splits. The rendered stems are cached under var/separation/.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pretty_midi
import torch

from generation.nets.separation import SOURCES, SeparationConfig
from generation.paths import var_dir
from generation.rendering import render_midi
from generation.separation.multitrack import Multitrack
from generation.separation.musdb import is_musdb_folder, load_musdb

CACHE_VERSION = 1  # bump when rendering or voice assignment changes: old caches are ignored
SPLITS = ("train", "validation", "test")
STEM_RMS = 0.05  # every stem is stored at this RMS (over its sounding part) before random gains
GAIN_DB = (-9.0, 3.0)  # random per-source gain range when mixing, in dB
MAX_SECONDS = 30.0  # longest stretch of a piece that is rendered (chorales last 30-60 s)
CHORALE_LIMIT = 120  # chorales rendered by default: ~1 h of audio, ~460 MB of cache at 16 kHz
TEMPO_RANGE = (64.0, 112.0)  # chorales carry no tempo marks; one is drawn per piece in this range

BASS_PROGRAMS = (32, 33, 34, 35)  # acoustic, finger, pick, fretless bass
MUSIC_PROGRAMS = (48, 49, 0, 40, 42)  # string ensembles, piano, violin, cello
VOCAL_PROGRAMS = (52, 53, 54)  # choir aahs, voice oohs, synth voice
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH = 36, 38, 42, 46, 49


SPLIT_RULE = "whole pieces by sha1(piece name) % 10: 0-7 train, 8 validation, 9 test"  # split_of, in words


def split_of(name: str) -> str:
    """The split of a piece, fixed by a hash of its name: 80 % train, 10 % validation, 10 % test."""
    bucket = int(hashlib.sha1(name.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 8 else ("validation" if bucket == 8 else "test")


def _piece_rng(name: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha1(name.encode()).hexdigest()[:12], 16))


# ------------------------------------------------------------------------------------------ pieces


def chorale_midis(limit: int | None = None) -> Iterator[tuple[str, pretty_midi.PrettyMIDI]]:
    """Music21's Bach chorales as four-part MIDI, each at a tempo drawn from its name."""
    from music21 import corpus

    paths = sorted(corpus.getComposer("bach"), key=lambda p: p.name)
    count = 0
    for path in paths:
        score = corpus.parse(path)
        if len(score.parts) != 4:
            continue
        name = path.stem
        tempo = float(_piece_rng(name).uniform(*TEMPO_RANGE))
        midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
        seconds_per_quarter = 60.0 / tempo
        for part in score.parts:
            instrument = pretty_midi.Instrument(program=0, name=part.partName or "")
            for element in part.stripTies().flatten().notes:
                start = float(element.offset) * seconds_per_quarter
                end = start + float(element.quarterLength) * seconds_per_quarter
                for pitch in element.pitches:
                    instrument.notes.append(pretty_midi.Note(80, int(pitch.midi), start, end))
            midi.instruments.append(instrument)
        signature = score.recurse().getElementsByClass("TimeSignature").first()
        numerator = signature.numerator if signature is not None else 4
        midi.time_signature_changes.append(pretty_midi.TimeSignature(numerator, 4, 0.0))
        yield name, midi
        count += 1
        if limit is not None and count >= limit:
            return


def folder_midis(folder: Path, limit: int | None = None) -> Iterator[tuple[str, pretty_midi.PrettyMIDI]]:
    """Every readable .mid/.midi file under `folder` (unreadable files are skipped)."""
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in {".mid", ".midi"})
    for count, path in enumerate(paths):
        if limit is not None and count >= limit:
            return
        try:
            yield str(path.relative_to(folder)), pretty_midi.PrettyMIDI(str(path))
        except Exception:  # noqa: BLE001 - a broken MIDI file is skipped, not fatal
            continue


def assign_voices(midi: pretty_midi.PrettyMIDI) -> dict[str, list[pretty_midi.Note]]:
    """Split a piece's pitched notes into bass, music and vocals (see the module docstring)."""
    parts = [inst for inst in midi.instruments if not inst.is_drum and inst.notes]
    voices: dict[str, list[pretty_midi.Note]] = {"bass": [], "music": [], "vocals": []}
    if len(parts) >= 3:
        parts.sort(key=lambda inst: np.mean([n.pitch for n in inst.notes]))
        voices["bass"] = list(parts[0].notes)
        voices["vocals"] = list(parts[-1].notes)
        voices["music"] = [n for inst in parts[1:-1] for n in inst.notes]
        return voices
    notes = sorted((n for inst in parts for n in inst.notes), key=lambda n: n.start)
    for note in notes:
        sounding = [m.pitch for m in notes if m.start <= note.start < m.end]
        if note.pitch >= max(sounding):
            voices["vocals"].append(note)
        elif note.pitch <= min(sounding):
            voices["bass"].append(note)
        else:
            voices["music"].append(note)
    return voices


def drum_pattern(
    *, tempo_bpm: float, beats_per_bar: int, seconds: float, rng: np.random.Generator
) -> list[pretty_midi.Note]:
    """A drum part at `tempo_bpm`: kick, snare on the back beats, hi-hats in 8ths, a crash every 4 bars."""
    beat = 60.0 / tempo_bpm
    busy = rng.random() < 0.5  # half the pieces get an 8th-note kick push and open hats
    notes = []
    step = 0
    while step * beat / 2 < seconds:
        t = step * beat / 2
        beat_index, half = divmod(step, 2)
        position = beat_index % beats_per_bar
        if half == 0 and position == 0 and (beat_index // beats_per_bar) % 4 == 0:
            notes.append((CRASH, t, 100))
        if half == 0 and (position == 0 or (position == 2 and beats_per_bar == 4)):
            notes.append((KICK, t, 110))
        if busy and half == 1 and position == beats_per_bar - 1:
            notes.append((KICK, t, 90))
        if half == 0 and position % 2 == 1:
            notes.append((SNARE, t, 105))
        hat = OPEN_HAT if busy and half == 1 and position == 1 else CLOSED_HAT
        notes.append((hat, t, 70 if half else 85))
        step += 1
    return [
        pretty_midi.Note(int(np.clip(vel + rng.integers(-10, 11), 1, 127)), pitch, t, t + 0.1)
        for pitch, t, vel in notes
    ]


def _render(instrument: pretty_midi.Instrument, sample_rate: int) -> np.ndarray:
    """One instrument alone through FluidSynth -> (samples,) mono float32."""
    midi = pretty_midi.PrettyMIDI()
    midi.instruments.append(instrument)
    return render_midi(midi, sample_rate=sample_rate).mean(axis=1).astype(np.float32)


def render_multitrack(
    name: str, midi: pretty_midi.PrettyMIDI, *, sample_rate: int, max_seconds: float = MAX_SECONDS
) -> Multitrack | None:
    """Render the four stems of the first `max_seconds` of one piece (None when it has no pitched notes)."""
    rng = _piece_rng(name)
    voices = assign_voices(midi)
    if not any(voices.values()):
        return None
    seconds = min(max(n.end for notes in voices.values() for n in notes), max_seconds)
    tempo = float(midi.get_tempo_changes()[1][0]) if len(midi.get_tempo_changes()[1]) else 100.0
    signatures = midi.time_signature_changes
    beats_per_bar = signatures[0].numerator if signatures else 4

    bass_notes = voices["bass"]
    if bass_notes and np.mean([n.pitch for n in bass_notes]) > 52:
        bass_notes = [pretty_midi.Note(n.velocity, n.pitch - 12, n.start, n.end) for n in bass_notes]
    instruments = {
        "bass": [(int(rng.choice(BASS_PROGRAMS)), False, bass_notes)],
        "drums": [
            (0, True, drum_pattern(tempo_bpm=tempo, beats_per_bar=beats_per_bar, seconds=seconds, rng=rng))
        ],
        "music": [(int(rng.choice(MUSIC_PROGRAMS)), False, voices["music"])],
        "vocals": [(int(rng.choice(VOCAL_PROGRAMS)), False, voices["vocals"])],
    }
    n = int(round(seconds * sample_rate))
    stems = np.zeros((len(SOURCES), n), dtype=np.float32)
    for index, source in enumerate(SOURCES):
        for program, is_drum, notes in instruments[source]:
            notes = [note for note in notes if note.start < seconds]
            if not notes:
                continue
            instrument = pretty_midi.Instrument(program=program, is_drum=is_drum)
            instrument.notes = notes
            audio = _render(instrument, sample_rate)[:n]
            stems[index, : len(audio)] += audio
        stems[index] = _normalise(stems[index])
    return Multitrack(name=name, sample_rate=sample_rate, stems=stems)


def _normalise(audio: np.ndarray) -> np.ndarray:
    """Scale to STEM_RMS over the samples that sound (silence stays silence)."""
    sounding = np.abs(audio) > 1e-4 * (np.abs(audio).max() + 1e-12)
    if not sounding.any() or not np.abs(audio).max() > 0:
        return audio
    rms = float(np.sqrt(np.mean(audio[sounding] ** 2)))
    return (audio * (STEM_RMS / rms)).astype(np.float32)


# ------------------------------------------------------------------------------------------ corpora


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[-60:] or "corpus"


def load_multitracks(
    corpus: str, *, split: str, sample_rate: int, limit: int | None = None, cache_dir: Path | None = None
) -> list[Multitrack]:
    """The rendered multitracks of one split of `corpus`, from the cache or rendered now.

    Args:
        corpus: "chorales" (music21's Bach chorales; "chorales:N" for the first N), a folder of MIDI
            files, or a folder in the MUSDB18 layout (see generation/separation/musdb.py).
        split: "train", "validation" or "test" ("heldout" is an alias of "test").
        sample_rate: of the returned stems.
        limit: at most this many pieces of the corpus (before splitting), for quick runs.
        cache_dir: where rendered splits are kept (default var/separation/).

    Returns:
        The split's pieces, in a fixed order.
    """
    split = "test" if split == "heldout" else split
    if ":" in corpus and corpus.rsplit(":", 1)[1].isdigit() and not Path(corpus).exists():
        corpus, count = corpus.rsplit(":", 1)  # "chorales:24", as the train command's --corpus allows
        limit = int(count)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
    if corpus != "chorales" and is_musdb_folder(Path(corpus)):
        return load_musdb(Path(corpus), split=split, sample_rate=sample_rate)
    cache_dir = cache_dir or var_dir() / "separation"
    if limit is None and corpus == "chorales":
        limit = CHORALE_LIMIT
    key = f"{_slug(corpus)}-{sample_rate}hz-{limit or 'all'}-v{CACHE_VERSION}"
    path = cache_dir / key / f"{split}.npz"
    if not path.exists():
        _render_corpus(corpus, sample_rate=sample_rate, limit=limit, folder=path.parent)
    with np.load(path) as data:
        offsets = data["offsets"]
        stems = data["stems"].astype(np.float32)
        names = [str(n) for n in data["names"]]
    return [
        Multitrack(name=name, sample_rate=sample_rate, stems=stems[:, offsets[i] : offsets[i + 1]])
        for i, name in enumerate(names)
    ]


def _render_corpus(corpus: str, *, sample_rate: int, limit: int | None, folder: Path) -> None:
    """Render every piece of `corpus` and write one .npz per split (float16 stems, offsets, names)."""
    if corpus == "chorales":
        midis = chorale_midis(limit)
    elif Path(corpus).is_dir():
        midis = folder_midis(Path(corpus), limit)
    else:
        raise ValueError(f"{corpus!r} is neither 'chorales' nor a folder of MIDI files or MUSDB18 tracks")
    by_split: dict[str, list[Multitrack]] = {split: [] for split in SPLITS}
    for name, midi in midis:
        track = render_multitrack(name, midi, sample_rate=sample_rate)
        if track is not None:
            by_split[split_of(name)].append(track)
    folder.mkdir(parents=True, exist_ok=True)
    for split, tracks in by_split.items():
        lengths = [t.stems.shape[1] for t in tracks]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        stems = (
            np.concatenate([t.stems for t in tracks], axis=1)
            if tracks
            else np.zeros((len(SOURCES), 0), dtype=np.float32)
        )
        tmp = folder / f".{split}.tmp.npz"
        np.savez(
            tmp, stems=stems.astype(np.float16), offsets=offsets, names=np.array([t.name for t in tracks])
        )
        tmp.replace(folder / f"{split}.npz")


# ------------------------------------------------------------------------------------------ batches


def random_gains(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 4) linear gains drawn uniformly in dB from GAIN_DB."""
    return (10.0 ** (rng.uniform(*GAIN_DB, size=(count, len(SOURCES))) / 20.0)).astype(np.float32)


def segment_batch(segments: list[np.ndarray], gains: np.ndarray) -> dict[str, torch.Tensor]:
    """Mix (4, samples) segments with (B, 4) gains -> {"mixture": (B, samples), "sources": (B, 4, samples)}."""
    sources = torch.from_numpy(np.stack(segments) * gains[:, :, None])
    return {"mixture": sources.sum(dim=1), "sources": sources}


def multitrack_batches(
    corpus: str,
    *,
    split: str,
    batch_size: int,
    seed: int,
    config: SeparationConfig,
    limit: int | None = None,
    validation_segments: int = 64,
) -> Iterator[dict[str, torch.Tensor]]:
    """Training or validation batches of rendered multitracks.

    For "train": an endless stream of random segments (pieces weighted by length) with random
    gains, drawn from `seed`. For any other split: one fixed pass over consecutive segments of each
    piece (at most `validation_segments`), with gains fixed by the split, the same on every call.

    Yields:
        {"mixture": (B, samples), "sources": (B, 4, samples)} float32 at config.sample_rate, with
        samples = config.segment_samples and mixture = sources.sum(1).
    """
    tracks = load_multitracks(corpus, split=split, sample_rate=config.sample_rate, limit=limit)
    length = config.segment_samples
    tracks = [t for t in tracks if t.stems.shape[1] >= length]
    if not tracks:
        raise ValueError(f"no piece of {corpus!r} ({split}) is at least {config.segment_seconds} s long")
    if split == "train":
        return train_stream(tracks, batch_size=batch_size, length=length, rng=np.random.default_rng(seed))
    return fixed_pass(tracks, batch_size=batch_size, length=length, limit=validation_segments)


def train_stream(
    tracks: list[Multitrack], *, batch_size: int, length: int, rng: np.random.Generator
) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches of random `length`-sample segments (pieces weighted by length), random gains."""
    weights = np.array([t.stems.shape[1] - length + 1 for t in tracks], dtype=np.float64)
    weights /= weights.sum()
    while True:
        picks = rng.choice(len(tracks), size=batch_size, p=weights)
        segments = []
        for pick in picks:
            stems = tracks[pick].stems
            start = int(rng.integers(0, stems.shape[1] - length + 1))
            segments.append(stems[:, start : start + length])
        yield segment_batch(segments, random_gains(rng, batch_size))


def fixed_pass(
    tracks: list[Multitrack], *, batch_size: int, length: int, limit: int
) -> Iterator[dict[str, torch.Tensor]]:
    """One pass over consecutive segments (at most `limit`), gains fixed by seed 0: the same every call."""
    segments = [
        t.stems[:, start : start + length]
        for t in tracks
        for start in range(0, t.stems.shape[1] - length + 1, length)
    ][:limit]
    gains = random_gains(np.random.default_rng(0), len(segments))
    for first in range(0, len(segments), batch_size):
        yield segment_batch(segments[first : first + batch_size], gains[first : first + batch_size])
