"""Recordings -> training material: separate, track the melody, find the beat grid and the chords.

For each recording:

1. read it (generation.audio.read_audio), mix to mono, separate (generation/separation/inference.py:
   the model hears its own rate, the stems come back at the recording's and add up to it); the
   analysis below runs on the stems resampled to the model's rate;
2. tempo and beats with librosa.beat.beat_track on the mixture (the stems' sum); each beat is cut
   into four 16th-note steps (extrapolated before the first and after the last beat);
3. melody: librosa's pYIN (C3-C7, rounded to semitones, 5-frame median filter) on the vocals stem
   when it holds a voice (at least VOCALS_MIN_SHARE of the pitched stems' energy, and a pitch in at
   least VOCALS_MIN_VOICED of the frames where they sound); otherwise on music + vocals, where the
   lead of a recording without a voice-like source ends up. Tracking the vocals alone is what
   finds the top line of four-part music: on music + vocals pYIN follows the inner voices;
4. each 16th step takes the pitch with the most voicing probability among its frames (a rest when
   most are unvoiced) and a confidence: pYIN's voicing probability times how steady the pitch is
   (a glide counts little). A confident step starts a note when its pitch differs from the note
   sounding or the melody stem has an onset there (a repeated note; librosa onsets on that stem
   alone, with a high threshold, so leaked drums do not cut held notes), else it holds. Doubtful
   steps (an attack under the previous note's release or a room's tail, a portamento) make no
   note of their own: they begin the next confident note, or extend the sounding one, unless they
   hold one other pitch for NOTE_MIN_STEPS or more;
5. chords: per beat, the mean CQT chroma of bass + music + vocals, its strong pitch classes and the
   bass stem's strongest pitch class go to the corpus's own chord recognition
   (generation.music.chords.recognise_chord), so audio and symbolic pieces get chords the same way;
6. the result is a corpus Piece in the paper's encoding (155 melody tokens, 25 chord classes) with
   beats_per_bar 4 (librosa finds beats, not bars).

A recording that cannot be read raises generation.audio.AudioError; one with no melody raises
NoMelodyError. `ingest_folder` reports both by name and goes on.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import librosa
import numpy as np
import scipy.signal
import torch

from generation.audio import AudioError, read_audio
from generation.music.chords import recognise_chord
from generation.music.corpus import Piece
from generation.music.encoding import HOLD, NO_CHORD, REST, STEPS_PER_BEAT
from generation.nets.separation import SOURCES, SeparationRNN
from generation.separation.inference import separate_at_rate

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".m4a"}
FMIN = librosa.note_to_hz("C3")  # the melody range: bass lines sit below C3 and would capture pYIN
FMAX = librosa.note_to_hz("C7")  # a piccolo's top
PYIN_HOP = 256  # 16 ms at 16 kHz: finer than a 16th at any sane tempo
MIN_NOTE_SECONDS = 0.06  # shorter pitch runs are tracking noise, not notes
MEDIAN_FRAMES = 5  # pitch median filter (80 ms at 16 kHz)
CHROMA_PRESENT = 0.3  # of a beat's strongest chroma: a pitch class this strong sounds in the chord
CHORD_MIN_LEVEL = 0.05  # a beat quieter than this fraction of the recording's loudest beat is NC
ONSET_DELTA = 0.5  # librosa onset peak threshold on the melody stem (its default 0.07 fires on leaks)
VOCALS_MIN_SHARE = 0.1  # of the pitched stems' energy, for the vocals stem to carry the melody
VOCALS_MIN_VOICED = 0.3  # share of sounding frames in which pYIN hears a pitch in the vocals stem
SOUNDING_LEVEL = 0.05  # of the loudest frame: below it the pitched stems are silent
STEP_MIN_VOICED = 0.5  # share of a step's frames with a pitch for the step to be a note
NOTE_MIN_STEPS = 2  # a run of doubtful steps this long, of another pitch, is a note, not an attack
GLIDE_SPAN_SECONDS = 0.1  # the pitch slope is measured across this span
GLIDE_SLOPE = 8.0  # semitones per second: a pitch moving this fast counts as e^-1 steady
STEP_MIN_CONFIDENCE = 0.5  # pYIN's mean voicing probability for a step to fix a note's pitch


class NoMelodyError(ValueError):
    """A recording in which no melody note was found."""


@dataclass
class Transcription:
    """What ingest found in one recording.

    Attributes:
        piece: the recording in the paper's encoding.
        grid: (T + 1,) times in seconds of the 16th-step boundaries (step t spans grid[t]..grid[t+1]).
        notes: the melody stem's pitch runs before the grid, as (onset s, offset s, MIDI pitch).
        melody_stem: what the melody was tracked on, "vocals" or "music+vocals".
        stems: (4, samples) the separated stems in SOURCES order at `sample_rate`; they add up to
            the recording (mixed to mono).
        sample_rate: of `stems`: the recording's own (`transcribe`) or the analysis rate
            (`transcribe_stems`).
    """

    piece: Piece
    grid: np.ndarray
    notes: list[tuple[float, float, int]] = field(default_factory=list)
    melody_stem: str = "vocals"
    stems: np.ndarray | None = None
    sample_rate: int = 0


def separate_audio(model: SeparationRNN, mono: np.ndarray) -> np.ndarray:
    """(samples,) mono at the model's rate -> (4, samples) stems (bass, drums, music, vocals)."""
    model.eval()
    audio = torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32)).unsqueeze(0)
    return model.separate(audio)[0].numpy()


@dataclass
class PitchLine:
    """A monophonic pitch track of one stem.

    Attributes:
        stem: the stem (or stems, "music+vocals") it was tracked on.
        pitch: (frames,) rounded MIDI pitch per frame, 0 where unvoiced.
        times: (frames,) frame centres in seconds.
        onsets: onset times in seconds heard in that stem (they split repeated notes).
        confidence: (frames,) per frame, pYIN's voicing probability times the pitch's steadiness
            (`track_pitch`); None: 1 wherever voiced.
    """

    stem: str
    pitch: np.ndarray
    times: np.ndarray
    onsets: np.ndarray
    confidence: np.ndarray | None = None

    def notes(self) -> list[tuple[float, float, int]]:
        """Runs of one pitch as (onset s, offset s, MIDI pitch), before any grid."""
        frame = float(self.times[1] - self.times[0]) if len(self.times) > 1 else 0.0
        notes: list[tuple[float, float, int]] = []
        start = 0
        for index in range(1, len(self.pitch) + 1):
            if index < len(self.pitch) and self.pitch[index] == self.pitch[start]:
                continue
            if self.pitch[start] > 0:
                begin, end = float(self.times[start]), float(self.times[index - 1] + frame)
                if end - begin >= MIN_NOTE_SECONDS:
                    notes.append((begin, end, int(self.pitch[start])))
            start = index
        return notes


def track_pitch(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames,) rounded, median-filtered pYIN pitch (0 = unvoiced), frame times, and confidence.

    The confidence is pYIN's voicing probability times `steadiness` (low where the pitch glides).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pYIN warns on all-unvoiced input
        f0, voiced, probability = librosa.pyin(
            audio, fmin=FMIN, fmax=FMAX, sr=sample_rate, frame_length=2048, hop_length=PYIN_HOP
        )
    pitch = np.where(voiced & np.isfinite(f0), np.round(librosa.hz_to_midi(np.nan_to_num(f0, nan=1.0))), 0)
    pitch = scipy.signal.medfilt(pitch, MEDIAN_FRAMES).astype(int)
    confidence = np.nan_to_num(np.asarray(probability, dtype=np.float64)) * steadiness(f0, sample_rate)
    return pitch, librosa.times_like(pitch, sr=sample_rate, hop_length=PYIN_HOP), confidence


def steadiness(f0: np.ndarray, sample_rate: int) -> np.ndarray:
    """(frames,) 1 where the pitch holds still, falling towards 0 where it glides.

    The slope is the pitch change across GLIDE_SPAN_SECONDS around each frame (semitones per
    second); the weight is exp(-(slope / GLIDE_SLOPE)^2). Unvoiced neighbours count as no change.
    """
    midi = librosa.hz_to_midi(np.where(np.isfinite(f0), f0, np.nan))
    half = max(1, round(GLIDE_SPAN_SECONDS * sample_rate / PYIN_HOP / 2))
    padded = np.pad(midi, half, constant_values=np.nan)
    change = np.abs(padded[2 * half :] - padded[: -2 * half])
    slope = np.nan_to_num(change, nan=0.0) / (2 * half * PYIN_HOP / sample_rate)
    return np.exp(-((slope / GLIDE_SLOPE) ** 2))


def stem_onsets(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Onset times (s) of one stem, from its spectral flux above the melody range's floor."""
    envelope = librosa.onset.onset_strength(y=audio, sr=sample_rate, hop_length=PYIN_HOP, fmin=FMIN)
    return librosa.onset.onset_detect(
        onset_envelope=envelope, sr=sample_rate, hop_length=PYIN_HOP, units="time", delta=ONSET_DELTA
    )


def melody_line(stems: np.ndarray, sample_rate: int) -> PitchLine:
    """The melody's pitch track: the vocals stem when it holds a voice, else music + vocals.

    A stem holds a voice when it carries at least VOCALS_MIN_SHARE of the pitched stems' energy and
    pYIN hears a pitch in at least VOCALS_MIN_VOICED of the frames where those stems sound.

    Args:
        stems: (4, samples) in SOURCES order at `sample_rate`.
    """
    index = {name: i for i, name in enumerate(SOURCES)}
    vocals = stems[index["vocals"]]
    pitched = stems[index["bass"]] + stems[index["music"]] + vocals
    pitch, times, confidence = track_pitch(vocals, sample_rate)
    level = librosa.feature.rms(y=pitched, frame_length=2048, hop_length=PYIN_HOP)[0][: len(pitch)]
    sounding = level > SOUNDING_LEVEL * (level.max() + 1e-12)
    share = float(np.sum(vocals**2) / (np.sum(pitched**2) + 1e-12))
    voiced = float((pitch[sounding] > 0).mean()) if sounding.any() else 0.0
    if share >= VOCALS_MIN_SHARE and voiced >= VOCALS_MIN_VOICED:
        return PitchLine("vocals", pitch, times, stem_onsets(vocals, sample_rate), confidence)
    lead = stems[index["music"]] + vocals
    pitch, times, confidence = track_pitch(lead, sample_rate)
    return PitchLine("music+vocals", pitch, times, np.array([]), confidence)


def step_pitches(line: PitchLine, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 16th step: its pitch (0 = rest), its confidence, and whether the stem has an onset there.

    A step is a rest when fewer than STEP_MIN_VOICED of its frames have a pitch; otherwise its pitch
    is the one with the largest summed frame confidence among its frames (a plain majority when the
    line has none), and its confidence is the mean frame confidence over all its frames.
    An onset counts for a step when it lies within half a step of the step's start.
    """
    steps = len(grid) - 1
    confidence = line.confidence if line.confidence is not None else (line.pitch > 0).astype(float)
    owner = np.searchsorted(grid, line.times, side="right") - 1
    half = np.diff(grid) / 2
    pitches, confidences = np.zeros(steps, dtype=np.int64), np.zeros(steps)
    onsets = np.zeros(steps, dtype=bool)
    for step in range(steps):
        inside = owner == step
        pitch = line.pitch[inside]
        voiced = pitch > 0
        onsets[step] = bool(np.any(np.abs(line.onsets - grid[step]) < half[step]))
        if not inside.any() or voiced.sum() < STEP_MIN_VOICED * inside.sum():
            continue
        values, where = np.unique(pitch[voiced], return_inverse=True)
        weights = np.bincount(where, weights=confidence[inside][voiced] + 1e-9)
        pitches[step] = int(values[weights.argmax()])
        confidences[step] = float(confidence[inside].mean())
    return pitches, confidences, onsets


def melody_on_grid(line: PitchLine, grid: np.ndarray) -> np.ndarray:
    """A pitch track -> (T,) melody tokens, deciding each 16th step by the frames inside it.

    Each step gets a pitch (or a rest) and a confidence (`step_pitches`). A confident step (mean
    voicing probability at least STEP_MIN_CONFIDENCE) starts a note when its pitch differs from the
    note sounding, or when the stem has an onset there (a repeated note); else it holds. A doubtful
    step between two notes (the attack of a note while the previous one still rings, or a room's
    tail over it: pYIN is unsure and reads a pitch in between) does not make a note of its own: if
    its pitch is the sounding note's it holds that note, otherwise it is the start of the next
    confident step's note, so that note's onset is where the change began. Doubtful steps that no
    confident step resolves (before a rest or the end, or back to the sounding pitch) keep their
    own pitches. Deciding per step, not per pitch run, makes a late pitch change or a few frames of
    jitter cost nothing.
    """
    pitches, confidences, onsets = step_pitches(line, grid)
    melody = np.full(len(pitches), REST, dtype=np.int64)
    sounding = 0  # the pitch of the note being held (0 after a rest)
    pending: list[int] = []  # doubtful steps since the sounding note, waiting for a confident one

    def settle(steps: list[int]) -> None:
        """Doubtful steps no confident one explains: a run of one pitch shorter than NOTE_MIN_STEPS
        (and not struck by an onset) is pYIN wandering, not a note; it extends what sounds."""
        nonlocal sounding
        start = 0
        while start < len(steps):
            end = start + 1
            while end < len(steps) and pitches[steps[end]] == pitches[steps[start]]:
                end += 1
            run, pitch = steps[start:end], int(pitches[steps[start]])
            if end - start < NOTE_MIN_STEPS and not onsets[run[0]]:
                melody[run] = HOLD if sounding else REST
            else:
                melody[run[0]] = pitch if pitch != sounding or onsets[run[0]] else HOLD
                melody[run[1:]] = HOLD
                sounding = pitch
            start = end

    for step, (pitch, confidence) in enumerate(zip(pitches.tolist(), confidences.tolist())):
        if pitch == 0:
            settle(pending)
            pending, sounding = [], 0
            continue
        if confidence < STEP_MIN_CONFIDENCE:
            if pending or pitch != sounding or onsets[step] or sounding == 0:
                pending.append(step)
            else:
                melody[step] = HOLD
            continue
        # the attack is the doubtful steps just before this one: runs shorter than NOTE_MIN_STEPS
        # or of this pitch; a longer run of another pitch before them was a note of its own
        first = len(pending)
        while first > 0:
            run = first
            while run > 0 and pitches[pending[run - 1]] == pitches[pending[first - 1]]:
                run -= 1
            if first - run >= NOTE_MIN_STEPS and pitches[pending[first - 1]] != pitch:
                break
            first = run
        settle(pending[:first])
        pending = pending[first:]
        if pending and (pitch != sounding or onsets[pending].any()):
            if onsets[step] and not onsets[pending].any() and sounding:
                melody[pending] = HOLD  # the attack is here: the doubtful steps were the old note's tail
                melody[step] = pitch
            else:
                melody[pending[0]] = pitch  # the note began where the change did
                melody[pending[1:]] = HOLD
                melody[step] = HOLD
        else:
            settle(pending)
            melody[step] = pitch if pitch != sounding or onsets[step] else HOLD
        pending, sounding = [], pitch
    settle(pending)
    return melody


def sixteenth_grid(beats: np.ndarray, tempo_bpm: float, duration: float) -> np.ndarray:
    """Step boundaries: each beat interval cut into 4, extrapolated to cover 0..duration.

    Args:
        beats: beat times in seconds (any number, sorted).
        tempo_bpm: used when fewer than two beats were found.
        duration: of the recording, in seconds.

    Returns:
        (T + 1,) increasing times; grid[0] <= 0 + one step, grid[-1] >= duration.
    """
    beats = np.asarray(beats, dtype=np.float64)
    period = float(np.median(np.diff(beats))) if len(beats) >= 2 else 60.0 / max(tempo_bpm, 1.0)
    step = period / STEPS_PER_BEAT
    if len(beats) < 2:
        beats = np.array([0.0, period])
    inner = [np.linspace(a, b, STEPS_PER_BEAT, endpoint=False) for a, b in zip(beats[:-1], beats[1:])]
    grid = np.concatenate([*inner, beats[-1:]])
    before = np.arange(int(np.floor(grid[0] / step)), 0, -1) * -step + grid[0]
    after_count = max(0, int(np.ceil((duration - grid[-1]) / step)))
    after = grid[-1] + step * np.arange(1, after_count + 1)
    return np.concatenate([before, grid, after])


def melody_notes(melody: np.ndarray, grid: np.ndarray) -> list[tuple[float, float, int]]:
    """Tokens on the grid -> (onset s, offset s, MIDI pitch), a note lasting to its last hold."""
    notes: list[tuple[float, float, int]] = []
    for step, token in enumerate(melody.tolist()):
        if token < 128:
            end = step + 1
            while end < len(melody) and melody[end] == HOLD:
                end += 1
            notes.append((float(grid[step]), float(grid[end]), int(token)))
    return notes


def beat_chords(stems: np.ndarray, sample_rate: int, grid: np.ndarray) -> np.ndarray:
    """(T,) chord indices: one chord class (or NC) per beat of the grid, repeated over its 4 steps.

    Per beat, the mean CQT chroma of the pitched stems (bass + music + vocals: the whole texture, as
    the corpus labels chords) is scaled to its strongest pitch class; the classes at CHROMA_PRESENT
    or above, weighted by their chroma, go to generation.music.chords.recognise_chord (the symbolic
    corpus's own chord recognition) with the bass stem's strongest pitch class as the bass. A beat
    quieter than CHORD_MIN_LEVEL of the loudest is NC.

    Args:
        stems: (4, samples) in SOURCES order at `sample_rate`.
        grid: (T + 1,) step boundaries in seconds.
    """
    hop = 512
    index = {name: i for i, name in enumerate(SOURCES)}
    harmony = stems[index["bass"]] + stems[index["music"]] + stems[index["vocals"]]

    def chroma_of(audio: np.ndarray) -> np.ndarray:
        # 6 octaves from C1 (33 Hz to 2 kHz): the harmony lives there, and it fits under 8 kHz rates
        return librosa.feature.chroma_cqt(y=audio, sr=sample_rate, hop_length=hop, n_octaves=6)

    chroma, bass_chroma = chroma_of(harmony), chroma_of(stems[index["bass"]])  # (12, frames)
    rms = librosa.feature.rms(y=harmony, frame_length=2048, hop_length=hop)[0]
    times = librosa.times_like(chroma, sr=sample_rate, hop_length=hop)
    steps = len(grid) - 1
    spans = [(b, min(b + STEPS_PER_BEAT, steps)) for b in range(0, steps, STEPS_PER_BEAT)]
    insides = [(times >= grid[first]) & (times < grid[last]) for first, last in spans]
    levels = [float(rms[: len(times)][inside].mean()) if inside.any() else 0.0 for inside in insides]
    loudest = max(levels, default=0.0)
    chords = np.full(steps, NO_CHORD, dtype=np.int64)
    for (first, last), inside, level in zip(spans, insides, levels):
        if loudest <= 0 or level < CHORD_MIN_LEVEL * loudest:
            continue
        vector = chroma[:, inside].mean(axis=1)
        vector = vector / (vector.max() + 1e-12)
        weights = np.where(vector >= CHROMA_PRESENT, vector, 0.0)
        bass = int(bass_chroma[:, inside].mean(axis=1).argmax())
        chords[first:last] = recognise_chord(weights, bass)
    return chords


def transcribe(
    samples: np.ndarray, sample_rate: int, model: SeparationRNN, *, key: str, title: str = ""
) -> Transcription:
    """One recording -> a Piece in the paper's encoding, and its stems at the recording's rate.

    Args:
        samples: (n,) or (n, channels) audio.
        sample_rate: of `samples`.
        model: a separation network; it hears the recording at its own rate, the stems come back at
            `sample_rate` (generation/separation/inference.py), the analysis runs at the model's rate.
        key: the piece's key in the corpus.

    Raises:
        NoMelodyError: no melody note was tracked.
    """
    mono = (samples.mean(axis=1) if samples.ndim == 2 else samples).astype(np.float32)
    own_stems = separate_at_rate(model, mono[None], sample_rate)[0]
    rate = model.config.sample_rate
    stems = own_stems
    if sample_rate != rate:
        stems = librosa.resample(own_stems, orig_sr=sample_rate, target_sr=rate)
    transcription = transcribe_stems(stems, rate, key=key, title=title)
    transcription.stems, transcription.sample_rate = own_stems, sample_rate
    return transcription


def transcribe_stems(stems: np.ndarray, sample_rate: int, *, key: str, title: str = "") -> Transcription:
    """Separated stems -> a Piece: beats from their sum, melody and chords from the stems.

    Args:
        stems: (4, samples) in SOURCES order at `sample_rate`; their sum is the recording.

    Raises:
        NoMelodyError: no melody note was tracked.
    """
    mixture = stems.sum(axis=0)
    tempo, beats = librosa.beat.beat_track(y=mixture, sr=sample_rate, units="time")
    tempo_bpm = float(np.atleast_1d(tempo)[0])
    grid = sixteenth_grid(beats, tempo_bpm, len(mixture) / sample_rate)
    line = melody_line(stems, sample_rate)
    if line.pitch.max(initial=0) <= 0:
        raise NoMelodyError(f"{title or key}: no melody found")
    melody = melody_on_grid(line, grid)
    if not (melody < 128).any():
        raise NoMelodyError(f"{title or key}: no melody note on the beat grid")
    chords = beat_chords(stems, sample_rate, grid)
    if len(beats) >= 2:
        tempo_bpm = 60.0 / float(np.median(np.diff(beats)))
    piece = Piece(
        key=key, melody=melody, chords=chords, tempo_bpm=round(tempo_bpm, 2), beats_per_bar=4, title=title
    )
    return Transcription(
        piece=piece,
        grid=grid,
        notes=line.notes(),
        melody_stem=line.stem,
        stems=stems,
        sample_rate=sample_rate,
    )


@dataclass
class IngestResult:
    pieces: list[Piece]
    skipped: list[tuple[str, str]]  # (file name, reason)


def audio_files(folder: Path) -> list[Path]:
    """The audio files under `folder` (by suffix), sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def ingest_folder(
    folder: Path, model: SeparationRNN, *, wrap: Callable[[Iterable[Path]], Iterable[Path]] = lambda x: x
) -> IngestResult:
    """Transcribe every recording under `folder`; unreadable or melody-less ones are skipped by name.

    Args:
        folder: searched recursively for AUDIO_SUFFIXES.
        model: the separation network.
        wrap: wraps the file iterator (e.g. tqdm).
    """
    folder = Path(folder)
    pieces: list[Piece] = []
    skipped: list[tuple[str, str]] = []
    for path in wrap(audio_files(folder)):
        name = str(path.relative_to(folder))
        try:
            samples, rate = read_audio(path)
            if samples.size == 0:
                raise AudioError(f"{path.name}: no samples")
            pieces.append(
                transcribe(samples, rate, model, key=str(Path(name).with_suffix("")), title=path.stem).piece
            )
        except (AudioError, NoMelodyError) as error:
            skipped.append((name, str(error)))
    return IngestResult(pieces=pieces, skipped=skipped)
