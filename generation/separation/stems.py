"""Rendered multitracks for training and evaluating the separation model, the way Slakh2100 does.

From MIDI pieces (music21's Bach chorales, or any folder of MIDI files) each source is rendered on
its own with FluidSynth:

* bass: the lowest voice on a program of the General MIDI bass family (32-39), an octave down when
  it sits above the bass range;
* music: each inner voice on its own program from the piano, organ, clean guitar, strings and
  string-ensemble families;
* vocals: the top voice on a voice-like program (choir aahs, voice oohs, synth voice, voice lead,
  choir pad);
* drums: a rock/ballad pattern at the piece's tempo on one of the General MIDI drum kits.

A piece with three or more pitched parts keeps its parts (lowest = bass, highest = vocals, the
rest = music); with fewer parts each note goes by its place at its onset (the skyline: highest
sounding = vocals, lowest of several = bass, otherwise music).

Many timbres, so that the network learns what a bass or a voice is rather than what one
soundfont's bass sounds like: every piece is rendered with each training soundfont (TRAINING_SOUNDFONTS),
with programs, velocities and a room drawn anew for each rendering; a light synthetic room reverb
(an exponentially decaying noise tail, one room per piece, a wet level per stem) is added to most
renderings. HELDOUT_SOUNDFONTS are never used for training or validation: they are the unseen timbres
the evaluation reports. The test split is rendered with the same draws under every soundfont, so
soundfonts are compared on the same notes, programs and rooms.

Everything drawn comes from a generator seeded by (RENDER_SEED, piece name, rendering index): the
same corpus renders to the same stems, bit for bit. Each stem is scaled to a common RMS and stored;
random gains, a random spectral tilt and a random smooth EQ per stem are applied when training
batches are drawn, and half the rows mix stems of different renderings, so every epoch hears new
mixes. Pieces go to train /
validation / test by a hash of their name (80/10/10), so a piece never appears in two splits. The
rendered stems are cached under var/separation/.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi
import scipy.fft
import scipy.signal
import torch

from generation.nets.separation import SOURCES, SeparationConfig
from generation.paths import var_dir
from generation.rendering import RenderingError, render_midi
from generation.separation.multitrack import Multitrack
from generation.separation.musdb import is_musdb_folder, load_musdb

CACHE_VERSION = 2  # bump when rendering or voice assignment changes: old caches are ignored
RENDER_SEED = 0  # seeds every draw of the rendering (programs, velocities, rooms, drum variations)
SPLITS = ("train", "validation", "test")
STEM_RMS = 0.05  # every stem is stored at this RMS (over its sounding part) before random gains
GAIN_DB = (-9.0, 3.0)  # random per-source gain range when mixing, in dB
# Random spectral tilt per stem when training batches are drawn: y[n] = x[n] - c x[n-1], c in this
# range (c = 0.4: lows -4.4 dB, highs +2.9 dB; c = -0.4 the other way). Soundfonts differ most in
# their spectral envelopes, so a network that has heard tilted stems leans less on one font's balance.
TILT_RANGE = (-0.4, 0.4)
# And a random smooth equaliser per stem on top: a gain drawn in +-EQ_DB at each of EQ_POINTS
# log-spaced frequencies from EQ_LOW_HZ to the Nyquist frequency, linear in dB between them. Two
# soundfonts' samples of one program differ in formants and brightness more than a tilt can say
# (docs/separation.md, soundfont distances), so training hears many spectral envelopes per program.
EQ_DB = 6.0
EQ_POINTS = 6
EQ_LOW_HZ = 60.0
# Share of training rows whose four stems come from four independent draws (piece, rendering and
# offset each its own), as open-unmix's random track mix: the network cannot lean on the stems of
# one rendering sharing a soundfont, a room or a tempo, and hears timbre pairings no rendering has.
REMIX_SHARE = 0.5
MAX_SECONDS = 30.0  # longest stretch of a piece that is rendered (chorales last 30-60 s)
CHORALE_LIMIT = 120  # chorales rendered by default: ~1 h of audio per soundfont at 16 kHz
TEMPO_RANGE = (64.0, 112.0)  # chorales carry no tempo marks; one is drawn per piece in this range

# General MIDI soundfonts from Debian packages (`make system-packages` installs them). They come in
# two families: MuseScore General is a fork of FluidR3Mono (its readme: every instrument without a
# credit still plays FluidR3 samples), and csound's GM bank shares samples with TimGM6mb (the same bass
# to within 0.04 of log-mel distance, see docs/separation.md). A held-out font with a sibling in training
# would be heard half-seen, so one family trains and the other is held out entirely: the network never
# hears a FluidR3 sample. FluidR3_GM is also the font the first model was measured on (3.37 dB).
SOUNDFONT_FOLDERS = (Path("/usr/share/sounds/sf2"), Path("/usr/share/sounds/sf3"))
SOUNDFONT_PACKAGES = {
    "TimGM6mb.sf2": "timgm6mb-soundfont",
    "sf_GMbank.sf2": "csound-soundfont",
    "FluidR3_GM.sf2": "fluid-soundfont-gm",
    "MuseScore_General.sf3": "musescore-general-soundfont",
}
TRAINING_SOUNDFONTS = ("TimGM6mb.sf2", "sf_GMbank.sf2")
HELDOUT_SOUNDFONTS = ("FluidR3_GM.sf2", "MuseScore_General.sf3")
HELDOUT_SOUNDFONT = HELDOUT_SOUNDFONTS[0]  # the unseen font of record

# Programs per stem, each within its General MIDI families (0-based program numbers).
BASS_PROGRAMS = tuple(range(32, 40))  # acoustic, finger, pick, fretless, slap 1-2, synth bass 1-2
MUSIC_PROGRAMS = (
    *range(0, 8),  # pianos, harpsichord, clavinet
    *range(16, 21),  # organs (drawbar, percussive, rock, church, reed)
    *range(24, 27),  # nylon, steel and jazz guitar
    *range(40, 47),  # violin, viola, cello, contrabass, tremolo and pizzicato strings, harp
    *range(48, 52),  # string ensembles 1-2, synth strings 1-2
)
VOCAL_PROGRAMS = (52, 53, 54, 85, 91)  # choir aahs, voice oohs, synth voice, lead 6 (voice), pad 4 (choir)
# GM drum kits (bank 128): standard, room, power, electronic, TR-808, jazz, brush, orchestra. A font
# without one of them plays its standard kit instead (FluidSynth falls back to kit 0).
DRUM_KITS = (0, 8, 16, 24, 25, 32, 40, 48)
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH = 36, 38, 42, 46, 49

VELOCITY_SCALE = (0.7, 1.0)  # per stem: velocity picks the sample layer, so it changes the timbre too
DRY_SHARE = 0.2  # renderings left without the synthetic room
RT60_RANGE = (0.25, 0.9)  # s: small to medium rooms ("light" reverb)
WET_DB = (-18.0, -8.0)  # per stem: reverb tail level relative to the dry stem
GAP_S = 4.0  # silence between stems rendered in one FluidSynth pass: longer than any release tail
# Pieces whose stems share one FluidSynth pass: one soundfont load (MuseScore General's sf3 takes about
# a minute to decode) and ~350 MB of audio at 16 kHz; a test split is one pass.
PIECES_PER_PASS = 24

SPLIT_RULE = (  # the soundfonts and split_of, in words (the sidecar's "split")
    f"rendered with {' and '.join(TRAINING_SOUNDFONTS)} ({' and '.join(HELDOUT_SOUNDFONTS)} held out of "
    "every split for evaluation); whole pieces by sha1(piece name) % 10: 0-7 train, 8 validation, 9 test"
)


def split_of(name: str) -> str:
    """The split of a piece, fixed by a hash of its name: 80 % train, 10 % validation, 10 % test."""
    bucket = int(hashlib.sha1(name.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 8 else ("validation" if bucket == 8 else "test")


def _name_hash(name: str) -> int:
    return int(hashlib.sha1(name.encode()).hexdigest()[:12], 16)


def _piece_rng(name: str) -> np.random.Generator:
    return np.random.default_rng(_name_hash(name))


def rendering_rng(name: str, rendering: int, seed: int = RENDER_SEED) -> np.random.Generator:
    """The generator of every draw for rendering number `rendering` of piece `name`."""
    return np.random.default_rng([seed, _name_hash(name), rendering])


# -------------------------------------------------------------------------------------- soundfonts


def find_soundfont(name: str) -> Path:
    """The installed file of a soundfont named in SOUNDFONT_PACKAGES (e.g. "FluidR3_GM.sf2").

    Raises:
        RenderingError: it is not installed (the message names the Debian package).
    """
    for folder in SOUNDFONT_FOLDERS:
        if (folder / name).is_file():
            return folder / name
    package = SOUNDFONT_PACKAGES.get(name, "a package that provides it")
    folders = " or ".join(str(f) for f in SOUNDFONT_FOLDERS)
    raise RenderingError(
        f"soundfont {name} not found in {folders}: `apt-get install {package}` (`make system-packages`)"
    )


def training_soundfonts() -> list[Path]:
    """The installed files of TRAINING_SOUNDFONTS (RenderingError when one is missing)."""
    return [find_soundfont(name) for name in TRAINING_SOUNDFONTS]


def soundfont_role(soundfont: Path | str) -> str:
    """The soundfont's part here, by file name: "training", "held out" (HELDOUT_SOUNDFONTS) or "other"."""
    name = Path(soundfont).name
    if name in TRAINING_SOUNDFONTS:
        return "training"
    return "held out" if name in HELDOUT_SOUNDFONTS else "other"


def _soundfont_key(soundfont: Path) -> str:
    """A cache key for a soundfont file: its name and size (two files of one name rarely share a size)."""
    return f"{_slug(soundfont.stem)}-{soundfont.stat().st_size}"


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


def assign_voices(midi: pretty_midi.PrettyMIDI) -> dict[str, list[list[pretty_midi.Note]]]:
    """Split a piece's pitched notes into bass, music and vocals (see the module docstring).

    Returns:
        {"bass": [notes], "music": [notes of each inner part], "vocals": [notes]}: lists of parts,
        so that each inner voice can get its own program.
    """
    parts = [inst for inst in midi.instruments if not inst.is_drum and inst.notes]
    if len(parts) >= 3:
        parts.sort(key=lambda inst: np.mean([n.pitch for n in inst.notes]))
        return {
            "bass": [list(parts[0].notes)],
            "music": [list(inst.notes) for inst in parts[1:-1]],
            "vocals": [list(parts[-1].notes)],
        }
    voices: dict[str, list[pretty_midi.Note]] = {"bass": [], "music": [], "vocals": []}
    notes = sorted((n for inst in parts for n in inst.notes), key=lambda n: n.start)
    for note in notes:
        sounding = [m.pitch for m in notes if m.start <= note.start < m.end]
        if note.pitch >= max(sounding):
            voices["vocals"].append(note)
        elif note.pitch <= min(sounding):
            voices["bass"].append(note)
        else:
            voices["music"].append(note)
    return {source: [notes] if notes else [] for source, notes in voices.items()}


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


# ----------------------------------------------------------------------------------- rendering plan


@dataclass
class Part:
    """One line of a stem: its notes on one program (a drum kit when `is_drum`)."""

    program: int
    is_drum: bool
    notes: list[pretty_midi.Note]


@dataclass
class StemPlan:
    """What one piece's rendering will be: the parts of each stem, its length and its room.

    Attributes:
        name: the piece's name.
        samples: length of every stem.
        parts: {source: [Part, ...]} for each of SOURCES.
        room: the room's impulse response (unit energy), or None for a dry rendering.
        wet_gains: {source: linear level of the reverb tail}.
    """

    name: str
    samples: int
    parts: dict[str, list[Part]]
    room: np.ndarray | None
    wet_gains: dict[str, float]


def room_impulse(rng: np.random.Generator, sample_rate: int) -> np.ndarray | None:
    """A small room: a short pre-delay, then exponentially decaying, slightly darkened noise.

    Returns:
        (samples,) unit-energy impulse response, or None (a dry rendering, DRY_SHARE of the time).
    """
    if rng.random() < DRY_SHARE:
        return None
    rt60 = float(rng.uniform(*RT60_RANGE))
    t = np.arange(int(rt60 * sample_rate)) / sample_rate
    tail = rng.standard_normal(len(t)) * np.exp(-6.91 * t / rt60)  # -60 dB at rt60
    darkening = float(rng.uniform(0.2, 0.7))  # one-pole low-pass: walls absorb the highs first
    tail = scipy.signal.lfilter([1.0 - darkening], [1.0, -darkening], tail)
    impulse = np.concatenate([np.zeros(int(rng.uniform(0.005, 0.02) * sample_rate)), tail])
    return (impulse / np.sqrt(np.sum(impulse**2))).astype(np.float32)


def plan_rendering(
    name: str,
    midi: pretty_midi.PrettyMIDI,
    *,
    sample_rate: int,
    rendering: int = 0,
    seed: int = RENDER_SEED,
    max_seconds: float = MAX_SECONDS,
) -> StemPlan | None:
    """Draw programs, velocities, drums and room for one rendering of a piece (None: no pitched notes)."""
    rng = rendering_rng(name, rendering, seed)
    voices = assign_voices(midi)
    pitched = [note for parts in voices.values() for notes in parts for note in notes]
    if not pitched:
        return None
    seconds = min(max(n.end for n in pitched), max_seconds)
    tempo = float(midi.get_tempo_changes()[1][0]) if len(midi.get_tempo_changes()[1]) else 100.0
    signatures = midi.time_signature_changes
    beats_per_bar = signatures[0].numerator if signatures else 4

    bass = voices["bass"]
    if bass and np.mean([n.pitch for notes in bass for n in notes]) > 52:
        bass = [[pretty_midi.Note(n.velocity, n.pitch - 12, n.start, n.end) for n in notes] for notes in bass]
    lines = {
        "bass": [(int(rng.choice(BASS_PROGRAMS)), False, notes) for notes in bass],
        "drums": [
            (
                int(rng.choice(DRUM_KITS)),
                True,
                drum_pattern(tempo_bpm=tempo, beats_per_bar=beats_per_bar, seconds=seconds, rng=rng),
            )
        ],
        "music": [(int(rng.choice(MUSIC_PROGRAMS)), False, notes) for notes in voices["music"]],
        "vocals": [(int(rng.choice(VOCAL_PROGRAMS)), False, notes) for notes in voices["vocals"]],
    }
    parts: dict[str, list[Part]] = {}
    for source in SOURCES:
        scale = float(rng.uniform(*VELOCITY_SCALE))
        parts[source] = [
            Part(
                program,
                is_drum,
                [
                    pretty_midi.Note(
                        int(np.clip(round(n.velocity * scale), 1, 127)), n.pitch, n.start, min(n.end, seconds)
                    )
                    for n in notes
                    if n.start < seconds
                ],
            )
            for program, is_drum, notes in lines[source]
        ]
    room = room_impulse(rng, sample_rate)
    wet_gains = {source: float(10.0 ** (rng.uniform(*WET_DB) / 20.0)) for source in SOURCES}
    return StemPlan(name, int(round(seconds * sample_rate)), parts, room, wet_gains)


def _sequence_midi(clips: list[list[Part]], starts: list[int]) -> bytes:
    """One MIDI file playing every clip's parts from its start (whole seconds), each clip alone.

    Pitched parts take channels 0, 1, ... (skipping 9), drums channel 9; at each clip's start every
    channel it uses is reset and gets its program, so clips never hear each other's settings.
    """
    import io

    import mido

    ticks = 1000  # per beat at 60 bpm: 1 ms per tick
    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, message): resets before notes
    for parts, start in zip(clips, starts):
        pitched = [c for c in range(16) if c != 9]
        for index, part in enumerate(parts):
            channel = 9 if part.is_drum else pitched[index % len(pitched)]
            at = start * ticks
            events.append((at, 0, mido.Message("control_change", channel=channel, control=121, value=0)))
            events.append((at, 0, mido.Message("control_change", channel=channel, control=7, value=100)))
            events.append((at, 1, mido.Message("program_change", channel=channel, program=part.program)))
            for note in part.notes:
                on = at + int(round(note.start * ticks))
                off = max(at + int(round(note.end * ticks)), on + 1)
                events.append(
                    (on, 3, mido.Message("note_on", channel=channel, note=note.pitch, velocity=note.velocity))
                )
                events.append(
                    (off, 2, mido.Message("note_off", channel=channel, note=note.pitch, velocity=0))
                )
    events.sort(key=lambda event: (event[0], event[1]))
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=1_000_000, time=0)])
    now = 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    buffer = io.BytesIO()
    mido.MidiFile(ticks_per_beat=ticks, tracks=[track]).save(file=buffer)
    return buffer.getvalue()


def _render_clips(
    clips: list[list[Part]], lengths: list[int], *, soundfont: Path, sample_rate: int
) -> list[np.ndarray]:
    """Render clips back to back in one FluidSynth pass, GAP_S apart -> each clip's (samples,) mono audio."""
    starts, at = [], 0
    for length in lengths:
        starts.append(at)
        at += int(np.ceil(length / sample_rate + GAP_S))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clips.mid"
        path.write_bytes(_sequence_midi(clips, starts))
        audio = render_midi(path, soundfont=soundfont, sample_rate=sample_rate).mean(axis=1)
    out = []
    for start, length in zip(starts, lengths):
        clip = np.zeros(length, dtype=np.float32)
        piece = audio[start * sample_rate : start * sample_rate + length]
        clip[: len(piece)] = piece
        out.append(clip)
    return out


def render_plans(
    plans: list[StemPlan], *, soundfont: Path | str, sample_rate: int, progress: str | None = None
) -> list[Multitrack]:
    """Render planned pieces with one soundfont, PIECES_PER_PASS pieces per FluidSynth pass.

    Args:
        plans: from `plan_rendering`, at `sample_rate`.
        soundfont: a .sf2/.sf3 file.
        progress: a tqdm description (None: no bar).
    """
    from tqdm import tqdm

    soundfont = Path(soundfont)
    tracks = []
    with tqdm(total=len(plans), desc=progress, unit="piece", disable=progress is None) as bar:
        for first in range(0, len(plans), PIECES_PER_PASS):
            group = plans[first : first + PIECES_PER_PASS]
            clips = [plan.parts[source] for plan in group for source in SOURCES]
            lengths = [plan.samples for plan in group for _ in SOURCES]
            audio = iter(_render_clips(clips, lengths, soundfont=soundfont, sample_rate=sample_rate))
            for plan in group:
                stems = np.zeros((len(SOURCES), plan.samples), dtype=np.float32)
                for index, source in enumerate(SOURCES):
                    dry = next(audio)
                    if plan.room is not None:
                        wet = scipy.signal.fftconvolve(dry, plan.room)[: plan.samples]
                        dry = dry + plan.wet_gains[source] * wet.astype(np.float32)
                    stems[index] = _normalise(dry)
                tracks.append(
                    Multitrack(name=plan.name, sample_rate=sample_rate, stems=stems, soundfont=soundfont.name)
                )
                bar.update(1)
    return tracks


def render_multitrack(
    name: str,
    midi: pretty_midi.PrettyMIDI,
    *,
    sample_rate: int,
    max_seconds: float = MAX_SECONDS,
    soundfont: Path | str | None = None,
    rendering: int = 0,
    seed: int = RENDER_SEED,
) -> Multitrack | None:
    """Render the four stems of the first `max_seconds` of one piece (None when it has no pitched notes).

    Args:
        soundfont: a .sf2/.sf3 file (default: the first of TRAINING_SOUNDFONTS).
        rendering, seed: which draws of programs, velocities and room (see `rendering_rng`).
    """
    plan = plan_rendering(
        name, midi, sample_rate=sample_rate, rendering=rendering, seed=seed, max_seconds=max_seconds
    )
    if plan is None:
        return None
    font = Path(soundfont) if soundfont is not None else find_soundfont(TRAINING_SOUNDFONTS[0])
    return render_plans([plan], soundfont=font, sample_rate=sample_rate)[0]


def _normalise(audio: np.ndarray) -> np.ndarray:
    """Scale to STEM_RMS over the samples that sound (silence stays silence)."""
    sounding = np.abs(audio) > 1e-4 * (np.abs(audio).max() + 1e-12)
    if not sounding.any() or not np.abs(audio).max() > 0:
        return audio.astype(np.float32)
    rms = float(np.sqrt(np.mean(audio[sounding] ** 2)))
    return (audio * (STEM_RMS / rms)).astype(np.float32)


# ------------------------------------------------------------------------------------------ corpora


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[-60:] or "corpus"


def load_multitracks(
    corpus: str,
    *,
    split: str,
    sample_rate: int,
    limit: int | None = None,
    cache_dir: Path | None = None,
    soundfonts: Sequence[Path | str] | None = None,
    progress: bool = True,
) -> list[Multitrack]:
    """The rendered multitracks of one split of `corpus`, from the cache or rendered now.

    Args:
        corpus: "chorales" (music21's Bach chorales; "chorales:N" for the first N), a folder of MIDI
            files, or a folder in the MUSDB18 layout (see generation/separation/musdb.py).
        split: "train", "validation" or "test" ("heldout" is an alias of "test").
        sample_rate: of the returned stems.
        limit: at most this many pieces of the corpus (before splitting), for quick runs.
        cache_dir: where rendered splits are kept (default var/separation/).
        soundfonts: .sf2/.sf3 files to render with (default: TRAINING_SOUNDFONTS); every piece comes
            once per soundfont. Not for MUSDB18 folders (recorded audio).
        progress: show a tqdm bar while rendering.

    Returns:
        The split's pieces, soundfont by soundfont, in a fixed order.

    Raises:
        ValueError: unknown split or corpus, soundfonts given for a MUSDB18 folder.
        RenderingError: a soundfont is missing.
    """
    split = "test" if split == "heldout" else split
    if ":" in corpus and corpus.rsplit(":", 1)[1].isdigit() and not Path(corpus).exists():
        corpus, count = corpus.rsplit(":", 1)  # "chorales:24", as the train command's --corpus allows
        limit = int(count)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
    if corpus != "chorales" and is_musdb_folder(Path(corpus)):
        if soundfonts is not None:
            raise ValueError(
                f"{corpus} is a MUSDB18 folder of recordings: it cannot be rendered with a soundfont"
            )
        return load_musdb(Path(corpus), split=split, sample_rate=sample_rate)
    if corpus != "chorales" and not Path(corpus).is_dir():
        raise ValueError(f"{corpus!r} is neither 'chorales' nor a folder of MIDI files or MUSDB18 tracks")
    fonts = [Path(f) for f in soundfonts] if soundfonts is not None else training_soundfonts()
    for font in fonts:
        if not font.is_file():
            raise RenderingError(f"soundfont not found: {font}")
        if font.suffix.lower() not in {".sf2", ".sf3"}:
            raise RenderingError(f"{font.name}: not a soundfont (expected a .sf2 or .sf3 file)")
    cache_dir = cache_dir or var_dir() / "separation"
    if limit is None and corpus == "chorales":
        limit = CHORALE_LIMIT
    folder = (
        cache_dir / f"{_slug(corpus)}-{sample_rate}hz-{limit or 'all'}-v{CACHE_VERSION}-seed{RENDER_SEED}"
    )
    paths = {font: folder / f"{split}-{_soundfont_key(font)}.npz" for font in fonts}
    missing = [(split, font) for font in fonts if not paths[font].exists()]
    if missing and soundfonts is None:
        # the training soundfonts: every split at once (one pass over the corpus), as training needs
        # train and validation and the evaluation the test split
        missing = [
            (name, font)
            for name in SPLITS
            for font in fonts
            if not (folder / f"{name}-{_soundfont_key(font)}.npz").exists()
        ]
    if missing:
        _render_corpus(
            corpus, jobs=missing, sample_rate=sample_rate, limit=limit, folder=folder, progress=progress
        )
    tracks = []
    for font in fonts:
        with np.load(paths[font]) as data:
            offsets = data["offsets"]
            stems = data["stems"].astype(np.float32)
            names = [str(n) for n in data["names"]]
        tracks += [
            Multitrack(
                name=name,
                sample_rate=sample_rate,
                stems=stems[:, offsets[i] : offsets[i + 1]],
                soundfont=font.name,
            )
            for i, name in enumerate(names)
        ]
    return tracks


def _render_corpus(
    corpus: str,
    *,
    jobs: list[tuple[str, Path]],
    sample_rate: int,
    limit: int | None,
    folder: Path,
    progress: bool,
) -> None:
    """Render the pieces of each (split, soundfont) job; one .npz per job.

    Train and validation pieces are drawn anew for each soundfont (the rendering number is a hash of
    the soundfont's name); test pieces get the same draws under every soundfont (rendering 0), so
    soundfonts are compared on equal terms.
    """
    midis = chorale_midis(limit) if corpus == "chorales" else folder_midis(Path(corpus), limit)
    pieces = [(name, midi) for name, midi in midis]
    folder.mkdir(parents=True, exist_ok=True)
    for split, font in jobs:
        rendering = 0 if split == "test" else _name_hash(font.name)
        plans = [
            plan_rendering(name, midi, sample_rate=sample_rate, rendering=rendering)
            for name, midi in pieces
            if split_of(name) == split
        ]
        plans = [plan for plan in plans if plan is not None]
        tracks = render_plans(
            plans,
            soundfont=font,
            sample_rate=sample_rate,
            progress=f"render {split} with {font.name}" if progress else None,
        )
        lengths = [t.stems.shape[1] for t in tracks]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        stems = (
            np.concatenate([t.stems for t in tracks], axis=1)
            if tracks
            else np.zeros((len(SOURCES), 0), dtype=np.float32)
        )
        key = _soundfont_key(font)
        tmp = folder / f".{split}-{key}.tmp.npz"
        np.savez(
            tmp, stems=stems.astype(np.float16), offsets=offsets, names=np.array([t.name for t in tracks])
        )
        tmp.replace(folder / f"{split}-{key}.npz")


# ------------------------------------------------------------------------------------------ batches


def random_gains(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 4) linear gains drawn uniformly in dB from GAIN_DB."""
    return (10.0 ** (rng.uniform(*GAIN_DB, size=(count, len(SOURCES))) / 20.0)).astype(np.float32)


def random_tilt(segments: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(B, 4, samples) segments, each stem through its own first-order tilt filter (TILT_RANGE)."""
    tilt = rng.uniform(*TILT_RANGE, size=segments.shape[:2]).astype(np.float32)
    tilted = segments.astype(np.float32)  # a copy: the cached stems are never changed
    tilted[..., 1:] -= tilt[..., None] * segments[..., :-1]
    return tilted


@functools.lru_cache(maxsize=8)
def _eq_basis(length: int, sample_rate: int) -> tuple[int, np.ndarray]:
    """The padded FFT size for `length` samples and the (EQ_POINTS, bins) hat functions on its bins:
    a curve linear in dB between the EQ points is gains @ basis. The same for every batch of a run."""
    size = scipy.fft.next_fast_len(length + length // 4, real=True)
    log_freqs = np.log(np.maximum(np.fft.rfftfreq(size, 1.0 / sample_rate), EQ_LOW_HZ))
    points = np.log(np.geomspace(EQ_LOW_HZ, sample_rate / 2.0, EQ_POINTS))
    basis = np.stack([np.interp(log_freqs, points, row) for row in np.eye(EQ_POINTS)]).astype(np.float32)
    basis.setflags(write=False)
    return size, basis


def random_eq(segments: np.ndarray, rng: np.random.Generator, *, sample_rate: int) -> np.ndarray:
    """(B, 4, samples) segments, each stem through its own random smooth EQ (EQ_DB, EQ_POINTS).

    The filter is applied in the frequency domain with zero padding of a quarter of the segment (the
    EQ curve's impulse response is a few ms long), so no tail wraps round onto the segment's start.
    """
    length = segments.shape[-1]
    size, basis = _eq_basis(length, sample_rate)
    gains_db = rng.uniform(-EQ_DB, EQ_DB, size=(*segments.shape[:2], EQ_POINTS)).astype(np.float32)
    spectrum = scipy.fft.rfft(segments.astype(np.float32), n=size, axis=-1)
    spectrum *= 10.0 ** ((gains_db @ basis) / 20.0)
    return scipy.fft.irfft(spectrum, n=size, axis=-1)[..., :length].astype(np.float32)


def segment_batch(segments: list[np.ndarray] | np.ndarray, gains: np.ndarray) -> dict[str, torch.Tensor]:
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
    """Training or validation batches of rendered multitracks (every training soundfont).

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
        return train_stream(
            tracks,
            batch_size=batch_size,
            length=length,
            rng=np.random.default_rng(seed),
            sample_rate=config.sample_rate,
        )
    return fixed_pass(tracks, batch_size=batch_size, length=length, limit=validation_segments)


def train_stream(
    tracks: list[Multitrack],
    *,
    batch_size: int,
    length: int,
    rng: np.random.Generator,
    sample_rate: int = 16000,
    remix_share: float = REMIX_SHARE,
) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches of random `length`-sample segments (pieces weighted by length).

    A `remix_share` of the rows take each stem from its own random segment (any piece, rendering and
    offset); every stem then gets a random tilt, a random EQ (at `sample_rate`) and a random gain.
    """
    weights = np.array([t.stems.shape[1] - length + 1 for t in tracks], dtype=np.float64)
    weights /= weights.sum()

    def segment(pick: int) -> np.ndarray:
        stems = tracks[pick].stems
        start = int(rng.integers(0, stems.shape[1] - length + 1))
        return stems[:, start : start + length]

    while True:
        rows = []
        for remix in rng.random(batch_size) < remix_share:
            if remix:
                picks = rng.choice(len(tracks), size=len(SOURCES), p=weights)
                rows.append(np.stack([segment(pick)[j] for j, pick in enumerate(picks)]))
            else:
                rows.append(segment(int(rng.choice(len(tracks), p=weights))))
        segments = random_eq(random_tilt(np.stack(rows), rng), rng, sample_rate=sample_rate)
        yield segment_batch(segments, random_gains(rng, batch_size))


def fixed_pass(
    tracks: list[Multitrack], *, batch_size: int, length: int, limit: int
) -> Iterator[dict[str, torch.Tensor]]:
    """One pass over consecutive segments (at most `limit`), gains fixed by seed 0: the same every call.

    Segments are taken round-robin over the tracks (the first segment of every track, then the
    second, ...), so a limit below the total still hears every piece and every soundfont.
    """
    starts = [range(0, t.stems.shape[1] - length + 1, length) for t in tracks]
    order = sorted(
        (
            (position, index, start)
            for index, ranges in enumerate(starts)
            for position, start in enumerate(ranges)
        ),
    )[:limit]
    segments = [tracks[index].stems[:, start : start + length] for _, index, start in order]
    gains = random_gains(np.random.default_rng(0), len(segments))
    for first in range(0, len(segments), batch_size):
        yield segment_batch(segments[first : first + batch_size], gains[first : first + batch_size])
