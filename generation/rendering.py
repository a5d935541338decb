"""MIDI -> audio with FluidSynth, and the clip pipeline every stimulus goes through.

One rendering function (`render_midi`) and one clip pipeline (`render_clip` + `save_clip`): cut to a
whole number of bars with short fades, loudness-normalised to one target (ITU-R BS.1770) under a
true-peak ceiling, written as constant-bitrate MP3 (browsers) and FLAC (analysis) without tags. Pure
Python, no Django.

Rendering is offline and deterministic: a fresh synthesizer per call, FluidSynth's MIDI player
driven by the sample clock (not the wall clock), float output. The same MIDI and soundfont give the
same samples, bit for bit.
"""

from __future__ import annotations

import ctypes
import io
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generation.audio import integrated_loudness, mp3_format, sha256_file

SAMPLE_RATE = 44100  # CD rate: what the soundfonts are sampled at, and what every stimulus uses
TARGET_LUFS = -23.0  # EBU R128 programme loudness; one target for every clip of every set
TRUE_PEAK_CEILING_DBTP = -1.0  # EBU R128 / streaming headroom for MP3 encoding overshoot
TRUE_PEAK_OVERSAMPLING = 4  # BS.1770-4 Annex 2: 4x oversampling estimates inter-sample peaks
FADE_IN_S = 0.01  # enough to avoid a click if the cut lands inside a note's attack
FADE_OUT_S = 0.5  # a short release into the bar line, so a clip never stops dead
TAIL_S = 1.0  # ring-out rendered after the last MIDI event (release + reverb)
BLOCK = 512  # samples per synthesis call; a multiple of FluidSynth's internal 64-sample block
# Constant bitrate, so a clip's size depends only on its length: with variable bitrate the size
# follows the content, and the relative sizes of an item's clips told volunteers the condition.
# 192 kbps is transparent for this material; libsndfile picks a CBR bitrate from a compression
# level (0 = 320 kbps ... 0.4 = 192 kbps), and save_clip checks what LAME actually wrote.
MP3_BITRATE_KBPS = 192
MP3_COMPRESSION_LEVEL = 0.4

INSTALL_LIBFLUIDSYNTH = (
    "install libfluidsynth: `apt-get install libfluidsynth3` (Debian/Ubuntu) or "
    "`brew install fluid-synth` (macOS); `make install` does it for you"
)


class RenderingError(Exception):
    """Rendering cannot run (library or soundfont missing) or the input cannot be rendered."""


@dataclass
class RenderedClip:
    """A finished clip in memory: samples (n, 2) float32 at `sample_rate`, measured."""

    samples: np.ndarray
    sample_rate: int
    loudness_lufs: float  # integrated loudness after normalisation
    true_peak_dbtp: float  # after normalisation, 4x oversampled
    gain_db: float  # the gain normalisation applied

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate


@dataclass
class ClipFiles:
    """Where a clip was written and the sha256 of each file."""

    mp3: Path
    flac: Path
    mp3_sha256: str
    flac_sha256: str


def default_soundfont() -> Path:
    """TimGM6mb.sf2, the small General MIDI soundfont that pretty_midi ships as its default."""
    import pretty_midi

    return Path(pretty_midi.__path__[0]) / "TimGM6mb.sf2"


def _fluidsynth():
    """Import pyfluidsynth, turning "library not found" into an error that says what to install."""
    try:
        import fluidsynth
    except ImportError as error:
        if "FluidSynth library" in str(error):
            raise RenderingError(f"libfluidsynth was not found: {INSTALL_LIBFLUIDSYNTH}") from error
        raise RenderingError(
            f"the pyfluidsynth package is missing ({error}): `pip install pyfluidsynth`, "
            f"and {INSTALL_LIBFLUIDSYNTH}"
        ) from error
    return fluidsynth


def _check_soundfont(soundfont: Path | str | None) -> Path:
    path = Path(soundfont) if soundfont is not None else default_soundfont()
    if not path.is_file():
        hint = (
            "pretty_midi ships it: `pip install pretty_midi`"
            if soundfont is None
            else "name an existing .sf2 or .sf3 file"
        )
        raise RenderingError(f"soundfont not found: {path} ({hint})")
    if path.suffix.lower() not in {".sf2", ".sf3"}:
        raise RenderingError(f"{path.name}: not a soundfont (expected a .sf2 or .sf3 file)")
    return path


def _midi_bytes(midi) -> bytes:
    """The Standard MIDI File bytes of a PrettyMIDI object or a .mid path."""
    if isinstance(midi, (str, Path)):
        path = Path(midi)
        if not path.is_file():
            raise RenderingError(f"MIDI file not found: {path}")
        return path.read_bytes()
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def _midi_seconds(data: bytes) -> float:
    """The length of a Standard MIDI File in seconds (its last event, tempo changes included)."""
    import mido

    try:
        return float(mido.MidiFile(file=io.BytesIO(data)).length)
    except (OSError, EOFError, ValueError, KeyError) as error:
        raise RenderingError(f"not a readable MIDI file: {error}") from error


def render_midi(midi, *, soundfont: Path | str | None = None, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Render MIDI to stereo audio with FluidSynth.

    Args:
        midi: a `pretty_midi.PrettyMIDI`, or the path of a .mid file.
        soundfont: a .sf2/.sf3 file; None for `default_soundfont()`.
        sample_rate: output rate in Hz.

    Returns:
        (n, 2) float32 samples: the whole piece plus `TAIL_S` of ring-out. Not normalised
        (FluidSynth's default gain of 0.2, the same as its command-line renderer).

    Raises:
        RenderingError: libfluidsynth or the soundfont is missing, or FluidSynth rejects the MIDI.
    """
    fl = _fluidsynth()
    soundfont = _check_soundfont(soundfont)
    data = _midi_bytes(midi)

    add_mem = fl._fl.fluid_player_add_mem
    add_mem.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    add_mem.restype = ctypes.c_int
    write_float = fl._fl.fluid_synth_write_float
    write_float.argtypes = [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p, ctypes.c_int, ctypes.c_int] * 2
    write_float.restype = ctypes.c_int

    # The player follows the synth's sample clock, so rendering runs as fast as the CPU allows
    # and never depends on wall time; one core keeps the mixing order (and the floats) fixed.
    synth = fl.Synth(
        samplerate=float(sample_rate),
        **{"player.timing-source": "sample", "synth.lock-memory": 0, "synth.cpu-cores": 1},
    )
    player = None
    try:
        if synth.sfload(str(soundfont)) < 0:
            raise RenderingError(f"FluidSynth could not load the soundfont {soundfont}")
        player = fl.new_fluid_player(synth.synth)
        midi_buffer = ctypes.create_string_buffer(data, len(data))
        if add_mem(player, midi_buffer, len(data)) != fl.FLUID_OK or fl.fluid_player_play(player) != 0:
            raise RenderingError("FluidSynth rejected the MIDI data")

        blocks: list[np.ndarray] = []
        buffer = np.zeros((BLOCK, 2), dtype=np.float32)
        pointer = buffer.ctypes.data

        def synthesize() -> None:
            # Interleaved stereo into one buffer: left at offset 0, right at 1, stride 2.
            if write_float(synth.synth, BLOCK, pointer, 0, 2, pointer, 1, 2) != fl.FLUID_OK:
                raise RenderingError("FluidSynth failed while synthesizing")
            blocks.append(buffer.copy())

        # A fixed length from the file itself, not the player's status: FluidSynth's player keeps
        # "playing" for a few seconds after the last event while voices die away.
        total = round((_midi_seconds(data) + TAIL_S) * sample_rate)
        for _ in range(math.ceil(total / BLOCK)):
            synthesize()
    finally:
        if player is not None:
            fl.delete_fluid_player(player)
        synth.delete()
    return np.concatenate(blocks, axis=0)[:total]


def render_midi_cli(midi_path: Path, wav_path: Path, *, soundfont: Path | None = None) -> None:
    """The FluidSynth command-line renderer, for comparison only (benchmarks)."""
    import subprocess

    executable = shutil.which("fluidsynth")
    if executable is None:
        raise RenderingError("the fluidsynth command is missing: `apt-get install fluidsynth`")
    soundfont = _check_soundfont(soundfont)
    subprocess.run(
        [
            executable,
            "-ni",
            "-q",
            "-F",
            str(wav_path),
            "-r",
            str(SAMPLE_RATE),
            str(soundfont),
            str(midi_path),
        ],
        check=True,
        capture_output=True,
    )


def bar_aligned_samples(seconds: float, bar_seconds: float, sample_rate: int) -> int:
    """The number of samples in the longest whole number of bars (at least one) within `seconds`."""
    if seconds <= 0 or bar_seconds <= 0:
        raise RenderingError(f"clip length and bar length must be positive (got {seconds}, {bar_seconds})")
    bars = max(1, math.floor(seconds / bar_seconds + 1e-9))
    return round(bars * bar_seconds * sample_rate)


def cut_on_bar(
    samples: np.ndarray,
    sample_rate: int,
    *,
    seconds: float,
    bar_seconds: float,
    fade_in_s: float = FADE_IN_S,
    fade_out_s: float = FADE_OUT_S,
) -> np.ndarray:
    """Cut (or pad with silence) to a whole number of bars, with a short fade in and out.

    Args:
        samples: (n, channels) audio that starts on a bar line.
        sample_rate: in Hz.
        seconds: the requested length; the clip ends on the last bar line at or before it.
        bar_seconds: one bar at the piece's tempo (60 / bpm * beats_per_bar).

    Returns:
        (m, channels) float32, m = `bar_aligned_samples(seconds, bar_seconds, sample_rate)`.
    """
    length = bar_aligned_samples(seconds, bar_seconds, sample_rate)
    clip = np.zeros((length, samples.shape[1]), dtype=np.float32)
    clip[: min(length, samples.shape[0])] = samples[:length]
    return apply_fades(clip, sample_rate, fade_in_s=fade_in_s, fade_out_s=fade_out_s)


def apply_fades(clip: np.ndarray, sample_rate: int, *, fade_in_s: float, fade_out_s: float) -> np.ndarray:
    """Linear fades over the first `fade_in_s` and last `fade_out_s` seconds (each at most half).

    Args:
        clip: (n, channels) float32, changed in place.

    Returns:
        `clip`.
    """
    length = clip.shape[0]
    fade_in = min(round(fade_in_s * sample_rate), length // 2)
    fade_out = min(round(fade_out_s * sample_rate), length // 2)
    if fade_in:
        clip[:fade_in] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)[:, None]
    if fade_out:
        clip[-fade_out:] *= np.linspace(1.0, 0.0, fade_out, dtype=np.float32)[:, None]
    return clip


def true_peak_dbtp(samples: np.ndarray, sample_rate: int) -> float:
    """The true peak in dBTP, estimated by 4x polyphase oversampling (BS.1770-4 Annex 2)."""
    from scipy.signal import resample_poly

    if samples.size == 0 or not np.any(samples):
        return float("-inf")
    oversampled = resample_poly(np.asarray(samples, dtype=np.float64), TRUE_PEAK_OVERSAMPLING, 1, axis=0)
    peak = max(float(np.max(np.abs(oversampled))), float(np.max(np.abs(samples))))
    return 20.0 * math.log10(peak)


def normalize_loudness(
    samples: np.ndarray,
    sample_rate: int,
    *,
    target_lufs: float = TARGET_LUFS,
    ceiling_dbtp: float = TRUE_PEAK_CEILING_DBTP,
) -> RenderedClip:
    """Scale to the target integrated loudness, never past the true-peak ceiling.

    A plain gain keeps the music untouched. If the target gain would push the true peak above the
    ceiling, the gain stops at the ceiling and the clip ends quieter than the target; the measured
    loudness is recorded either way, so such a clip shows up in the spread.

    Raises:
        RenderingError: the audio is silent (there is no loudness to match).
    """
    loudness = integrated_loudness(samples, sample_rate)
    if not math.isfinite(loudness):
        raise RenderingError("the rendered audio is silent: nothing to normalise")
    gain_db = target_lufs - loudness
    peak = true_peak_dbtp(samples, sample_rate)
    gain_db = min(gain_db, ceiling_dbtp - peak)
    normalised = (samples * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32)
    return RenderedClip(
        samples=normalised,
        sample_rate=sample_rate,
        loudness_lufs=integrated_loudness(normalised, sample_rate),
        true_peak_dbtp=true_peak_dbtp(normalised, sample_rate),
        gain_db=gain_db,
    )


def render_clip(
    midi,
    *,
    seconds: float,
    bar_seconds: float,
    soundfont: Path | str | None = None,
    sample_rate: int = SAMPLE_RATE,
    target_lufs: float = TARGET_LUFS,
    ceiling_dbtp: float = TRUE_PEAK_CEILING_DBTP,
) -> RenderedClip:
    """The whole clip pipeline in memory: render, cut on a bar line with fades, normalise loudness."""
    rendered = render_midi(midi, soundfont=soundfont, sample_rate=sample_rate)
    clip = cut_on_bar(rendered, sample_rate, seconds=seconds, bar_seconds=bar_seconds)
    return normalize_loudness(clip, sample_rate, target_lufs=target_lufs, ceiling_dbtp=ceiling_dbtp)


def save_clip(clip: RenderedClip, *, mp3_path: Path, flac_path: Path) -> ClipFiles:
    """Write the clip as constant-bitrate MP3 (browsers) and 24-bit FLAC (analysis), without tags.

    The MP3 is `MP3_BITRATE_KBPS` CBR with LAME's defaults otherwise, so two clips with the same
    number of samples are files of the same size, frame for frame, whatever they play. libsndfile
    writes tags only when asked to (we never set title/artist/comment), so the MP3 has no ID3
    block and the FLAC no Vorbis comments beyond the encoder's vendor string. Files are written
    next to their destination and then renamed, so a reader never sees half a file.

    Raises:
        RenderingError: the installed libsndfile wrote another bitrate than `MP3_BITRATE_KBPS`.
    """
    import soundfile as sf

    mp3 = {"compression_level": MP3_COMPRESSION_LEVEL, "bitrate_mode": "CONSTANT"}
    for path, fmt, subtype, options in (
        (mp3_path, "MP3", "MPEG_LAYER_III", mp3),
        (flac_path, "FLAC", "PCM_24", {}),
    ):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=path.suffix, delete=False) as handle:
            partial = Path(handle.name)
        try:
            sf.write(str(partial), clip.samples, clip.sample_rate, format=fmt, subtype=subtype, **options)
            if fmt == "MP3" and mp3_format(partial).bitrate_kbps != MP3_BITRATE_KBPS:
                raise RenderingError(
                    f"libsndfile did not write {MP3_BITRATE_KBPS} kbps constant-bitrate MP3 "
                    f"({mp3_format(partial)}); clips of one item would differ in size"
                )
            # A temporary file is private (0600); published audio must be readable by a web server.
            partial.chmod(0o644)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
    return ClipFiles(
        mp3=Path(mp3_path),
        flac=Path(flac_path),
        mp3_sha256=sha256_file(mp3_path),
        flac_sha256=sha256_file(flac_path),
    )
