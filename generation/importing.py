"""Import a folder of audio as stimulus sets, so a study can run on any audio.

Layout: one sub-folder per condition, each holding one audio file (wav, mp3, ogg, flac) per
musical item; the file's stem is the item key, so `proposed/item01.wav` and `real/item01.flac`
are the same item in two conditions. Each sub-folder becomes one StimulusSet (source: imported;
a new version when the name exists), ready at once.

Blinding: whatever the originals are, every clip leaves here in one browser format, stereo
constant-bitrate MP3 at 44.1 kHz without tags, written by the clip pipeline's `save_clip`
(generation/rendering.py), the same writer the generated sets use. If the conditions kept their
own formats (real music as WAV, the models as MP3), the Content-Type, the bitrate and the size
would tell a volunteer which condition a clip is, and the originals' tags could name a model or a
title. The clips of one item are made equally long as well (cut to the item's shortest clip, all
of them with the same fade-out), so they are files of one size in every condition imported
together; `studies.services.study_open` refuses sets whose clips of an item still differ. A
24-bit FLAC of the same samples is kept for analysis. Duration, loudness and sha256 are measured
on the MP3, the file volunteers hear; the original file's name, format, rate and sha256 go only into
`Stimulus.provenance`, which researchers alone see.

Every file is decoded, converted and written to a scratch folder first; if any cannot be read,
the import stops before touching the database or the media storage and names every bad file.
The writes happen in one transaction, and the stored files are removed if it fails, so nothing
half-imported remains.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
from django.core.files import File
from django.db import transaction
from django.utils.text import slugify

from generation.audio import (
    AudioError,
    AudioInfo,
    integrated_loudness,
    probe_audio,
    read_audio,
    sha256_file,
)
from generation.models import Stimulus, StimulusSet
from generation.rendering import (
    FADE_OUT_S,
    SAMPLE_RATE,
    RenderedClip,
    apply_fades,
    save_clip,
    true_peak_dbtp,
)
from generation.services import stimulus_set_create_version

AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac")
CHANNELS = 2  # what the rendered sets have; a mono original is played on both sides


class StimulusImportError(Exception):
    """The folder cannot be imported; `problems` lists every reason (file names included)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Nothing was imported:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass
class _Clip:
    """One file after conversion: the browser MP3 and analysis FLAC in the scratch folder."""

    path: Path  # the original
    item_key: str
    mp3: Path
    flac: Path
    info: AudioInfo  # of the MP3: what volunteers hear
    original: dict  # the original file's name, format, rate, channels and sha256 (provenance)
    flac_sha256: str
    true_peak_dbtp: float


def scan_folder(folder: Path) -> dict[str, list[Path]]:
    """{sub-folder name: its audio files (sorted)}; raises StimulusImportError for a bad layout."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StimulusImportError([f"{folder}: not a folder"])
    layout: dict[str, list[Path]] = {}
    problems = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(
            p
            for p in sub.iterdir()
            if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".")
        )
        if not files:
            problems.append(f"{sub.name}/: no audio files ({', '.join(AUDIO_SUFFIXES)})")
        layout[sub.name] = files
    if not layout:
        problems.append(f"{folder}: no sub-folders (one per condition is expected)")
    if problems:
        raise StimulusImportError(problems)
    return layout


def _browser_layout(samples: np.ndarray, rate: int) -> np.ndarray:
    """(n, channels) samples at `rate` -> (m, 2) float32 at 44.1 kHz within full scale.

    Raises:
        AudioError: more than two channels (no downmix is guessed for surround files).
    """
    channels = samples.shape[1]
    if channels == 1:
        samples = np.repeat(samples, CHANNELS, axis=1)
    elif channels != CHANNELS:
        raise AudioError(f"{channels} channels; only mono or stereo files can be imported")
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly

        divisor = gcd(SAMPLE_RATE, rate)
        samples = resample_poly(samples, SAMPLE_RATE // divisor, rate // divisor, axis=0)
    # Resampling can overshoot full scale a little, and MP3 cannot carry more than full scale.
    return np.clip(samples, -1.0, 1.0).astype(np.float32)


@dataclass
class _Decoded:
    """One original after decoding into the browser layout, parked in the scratch folder."""

    path: Path  # the original
    condition: str
    samples: Path  # (n, 2) float32 at 44.1 kHz, as .npy
    frames: int
    original: dict  # the original file's name, format, rate, channels and sha256 (provenance)


def _decode(path: Path, condition: str, scratch: Path, index: int) -> _Decoded:
    """Decode `path` into the browser layout and park the samples in `scratch`.

    Raises:
        AudioError: "condition/file: reason" for an unreadable file, one too short for a loudness
            figure (under 0.4 s), or one with more than two channels.
    """
    try:
        samples, rate = read_audio(path)
        converted = _browser_layout(samples, rate)
        integrated_loudness(converted, SAMPLE_RATE)  # refuses clips under 0.4 s
    except AudioError as error:
        raise AudioError(f"{condition}/{path.name}: {str(error).removeprefix(f'{path.name}: ')}") from error
    parked = scratch / f"{index}.npy"
    np.save(parked, converted)
    return _Decoded(
        path=path,
        condition=condition,
        samples=parked,
        frames=converted.shape[0],
        original={
            "imported_file": f"{condition}/{path.name}",
            "original_format": path.suffix.lower().lstrip("."),
            "original_sha256": sha256_file(path),
            "original_sample_rate": rate,
            "original_channels": samples.shape[1],
            "original_duration_s": round(samples.shape[0] / rate, 6),
        },
    )


def _encode(decoded: _Decoded, scratch: Path, index: int, *, cut_to: int | None) -> _Clip:
    """Write `decoded` as MP3 + FLAC into `scratch` and measure the MP3.

    Args:
        cut_to: None to keep every sample; else the number of samples to keep, with the clip
            pipeline's fade-out at the new end (the item's clips differ in length).
    """
    samples = np.load(decoded.samples)
    provenance = dict(decoded.original)
    if cut_to is not None:
        samples = apply_fades(samples[:cut_to].copy(), SAMPLE_RATE, fade_in_s=0.0, fade_out_s=FADE_OUT_S)
        provenance["cut_to_s"] = round(cut_to / SAMPLE_RATE, 6)
    clip = RenderedClip(
        samples=samples,
        sample_rate=SAMPLE_RATE,
        loudness_lufs=integrated_loudness(samples, SAMPLE_RATE),
        true_peak_dbtp=true_peak_dbtp(samples, SAMPLE_RATE),
        gain_db=0.0,  # imported audio keeps the level its author gave it
    )
    files = save_clip(clip, mp3_path=scratch / f"{index}.mp3", flac_path=scratch / f"{index}.flac")
    return _Clip(
        path=decoded.path,
        item_key=decoded.path.stem,
        mp3=files.mp3,
        flac=files.flac,
        info=probe_audio(files.mp3),
        original=provenance,
        flac_sha256=files.flac_sha256,
        true_peak_dbtp=clip.true_peak_dbtp,
    )


def import_stimuli(folder: str | Path, *, prefix: str = "", created_by=None) -> list[StimulusSet]:
    """Import every sub-folder of `folder` as a ready StimulusSet (source: imported).

    Args:
        folder: holds one sub-folder of audio files per condition.
        prefix: prepended to each set's name (slugified sub-folder name).
        created_by: the user recorded on the sets.

    Returns:
        The new sets, in sub-folder order; every clip a tag-free 44.1 kHz stereo MP3 plus FLAC.

    Raises:
        StimulusImportError: a bad layout or unreadable files (all named); nothing is written.
    """
    layout = scan_folder(Path(folder))
    problems: list[str] = []
    names = {condition: slugify(f"{prefix}{condition}")[:80] for condition in layout}
    if any(not name for name in names.values()):
        problems.append("a sub-folder name gives an empty set name; rename it")
    # The conversions live in a scratch folder until the database rows exist, so a failure
    # anywhere leaves neither rows nor files behind (the folder goes with the `with`).
    with tempfile.TemporaryDirectory(prefix="docbgm-import-") as scratch:
        numbers = itertools.count()  # scratch file names
        decoded: dict[str, list[_Decoded]] = {}
        for condition, files in layout.items():
            stems = [p.stem for p in files]
            duplicates = sorted({s for s in stems if stems.count(s) > 1})
            if duplicates:
                problems.append(f"{condition}/: several files for item(s) {', '.join(duplicates)}")
            decoded[condition] = []
            for path in files:
                try:
                    decoded[condition].append(_decode(path, condition, Path(scratch), next(numbers)))
                except AudioError as error:
                    problems.append(str(error))
        if problems:
            raise StimulusImportError(problems)

        # Blinding: every clip of one item is as long as the item's shortest clip, so that its
        # constant-bitrate MP3s are files of one size in every condition.
        lengths: dict[str, set[int]] = {}
        for clip in itertools.chain.from_iterable(decoded.values()):
            lengths.setdefault(clip.path.stem, set()).add(clip.frames)
        converted: dict[str, list[_Clip]] = {
            condition: [
                _encode(
                    clip,
                    Path(scratch),
                    next(numbers),
                    cut_to=min(lengths[clip.path.stem]) if len(lengths[clip.path.stem]) > 1 else None,
                )
                for clip in clips
            ]
            for condition, clips in decoded.items()
        }

        written: list = []  # (storage, name) of every file stored, to remove them if anything fails
        try:
            with transaction.atomic():
                sets = [
                    _create_set(names[condition], condition, clips, created_by=created_by, written=written)
                    for condition, clips in converted.items()
                ]
        except BaseException:
            for storage, name in written:
                storage.delete(name)
            raise
    return sets


def _create_set(name: str, condition: str, clips: list[_Clip], *, created_by, written: list) -> StimulusSet:
    stimulus_set = stimulus_set_create_version(
        name=name,
        source=StimulusSet.Source.IMPORTED,
        status=StimulusSet.Status.READY,
        parameters={"imported_from": condition},
        progress_done=len(clips),
        progress_total=len(clips),
        created_by=created_by,
    )
    stimulus_set.finished_at = stimulus_set.created_at
    stimulus_set.save(update_fields=["finished_at"])
    for position, clip in enumerate(clips):
        stimulus = Stimulus(
            stimulus_set=stimulus_set,
            item_key=clip.item_key,
            position=position,
            duration_s=clip.info.duration_s,
            loudness_lufs=round(clip.info.loudness_lufs, 3) if np.isfinite(clip.info.loudness_lufs) else None,
            audio_sha256=clip.info.sha256,
            provenance={
                **clip.original,
                "flac_sha256": clip.flac_sha256,
                "true_peak_dbtp": round(clip.true_peak_dbtp, 3),
            },
        )
        # The fields' upload_to stores them under random names (generation/storage.py): nothing
        # about the condition, the set, the position or the original file.
        for field, local in ((stimulus.audio, clip.mp3), (stimulus.audio_flac, clip.flac)):
            with local.open("rb") as handle:
                field.save(local.name, File(handle), save=False)
            written.append((field.storage, field.name))
        stimulus.full_clean(exclude=["stimulus_set"])
        stimulus.save()
    return stimulus_set


def item_mismatches(sets: list[StimulusSet]) -> list[str]:
    """Items some imported sets render and others do not (a study needs the same items in all)."""
    keys = {s.name: set(s.stimuli.values_list("item_key", flat=True)) for s in sets}
    every = set.union(*keys.values()) if keys else set()
    return [
        f"{name}: missing {', '.join(sorted(every - have))}" for name, have in keys.items() if every - have
    ]
