"""Import a folder of audio as stimulus sets, so a study can run on any audio.

Layout: one sub-folder per condition, each holding one audio file (wav, mp3, ogg, flac) per
musical item; the file's stem is the item key, so `proposed/item01.wav` and `real/item01.flac`
are the same item in two conditions. Each sub-folder becomes one StimulusSet (source: imported;
a new version when the name exists), ready at once.

Every file is decoded and measured first (generation/audio.py); if any cannot be read, the
import stops before writing anything and names every bad file. The writes happen in one
transaction, and the audio files written so far are removed if it fails, so nothing
half-imported remains. The browser copy is re-encoded as MP3 without tags (names and titles in
the original's tags must not reach volunteers); a lossless FLAC of the decoded audio is kept for
analysis.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils.text import slugify

from generation.audio import AudioError, AudioInfo, integrated_loudness, read_audio, sha256_file
from generation.models import Stimulus, StimulusSet

AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac")
MP3_MAX_RATE = 48000  # MPEG-1 Layer III stops at 48 kHz


class StimulusImportError(Exception):
    """The folder cannot be imported; `problems` lists every reason (file names included)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Nothing was imported:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass
class _Clip:
    path: Path
    item_key: str
    samples: np.ndarray  # (n, channels) float32
    sample_rate: int
    info: AudioInfo


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


def _measure(path: Path, condition: str) -> _Clip:
    samples, rate = read_audio(path)
    duration = samples.shape[0] / rate
    try:
        loudness = integrated_loudness(samples, rate)
    except AudioError as error:
        raise AudioError(f"{condition}/{path.name}: {error}") from error
    info = AudioInfo(
        duration_s=duration,
        loudness_lufs=loudness,
        sample_rate=rate,
        channels=samples.shape[1],
        sha256=sha256_file(path),
    )
    return _Clip(path=path, item_key=path.stem, samples=samples, sample_rate=rate, info=info)


def _encode(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    import soundfile as sf

    if fmt == "MP3" and rate > MP3_MAX_RATE:
        from scipy.signal import resample_poly

        divisor = gcd(MP3_MAX_RATE, rate)
        samples = resample_poly(samples, MP3_MAX_RATE // divisor, rate // divisor, axis=0).astype(np.float32)
        rate = MP3_MAX_RATE
    buffer = io.BytesIO()
    # libsndfile writes no title/artist tags unless asked, so the bytes carry no names.
    sf.write(
        buffer,
        np.clip(samples, -1.0, 1.0),
        rate,
        format=fmt,
        subtype="MPEG_LAYER_III" if fmt == "MP3" else "PCM_24",
    )
    return buffer.getvalue()


def import_stimuli(folder: str | Path, *, prefix: str = "", created_by=None) -> list[StimulusSet]:
    """Import every sub-folder of `folder` as a ready StimulusSet (source: imported).

    Args:
        folder: holds one sub-folder of audio files per condition.
        prefix: prepended to each set's name (slugified sub-folder name).
        created_by: the user recorded on the sets.

    Returns:
        The new sets, in sub-folder order.

    Raises:
        StimulusImportError: a bad layout or unreadable files (all named); nothing is written.
    """
    layout = scan_folder(Path(folder))
    problems: list[str] = []
    measured: dict[str, list[_Clip]] = {}
    for condition, files in layout.items():
        clips = []
        stems = [p.stem for p in files]
        duplicates = sorted({s for s in stems if stems.count(s) > 1})
        if duplicates:
            problems.append(f"{condition}/: several files for item(s) {', '.join(duplicates)}")
        for path in files:
            try:
                clips.append(_measure(path, condition))
            except AudioError as error:
                message = str(error)
                problems.append(message if message.startswith(condition) else f"{condition}/{message}")
        measured[condition] = clips
    names = {condition: slugify(f"{prefix}{condition}")[:80] for condition in layout}
    if any(not name for name in names.values()):
        problems.append("a sub-folder name gives an empty set name; rename it")
    if problems:
        raise StimulusImportError(problems)

    written: list = []  # (storage, name) of every file saved, to remove them if anything fails
    try:
        with transaction.atomic():
            sets = [
                _create_set(names[condition], condition, clips, created_by=created_by, written=written)
                for condition, clips in measured.items()
            ]
    except BaseException:
        for storage, name in written:
            storage.delete(name)
        raise
    return sets


def _create_set(name: str, condition: str, clips: list[_Clip], *, created_by, written: list) -> StimulusSet:
    # Lock the family's rows so two imports of one name cannot both take the same version.
    latest = StimulusSet.objects.select_for_update().filter(name=name).aggregate(v=Max("version"))["v"] or 0
    stimulus_set = StimulusSet(
        name=name,
        version=latest + 1,
        source=StimulusSet.Source.IMPORTED,
        status=StimulusSet.Status.READY,
        parameters={"imported_from": condition},
        progress_done=len(clips),
        progress_total=len(clips),
        created_by=created_by,
    )
    stimulus_set.full_clean()
    stimulus_set.save()
    stimulus_set.finished_at = stimulus_set.created_at
    stimulus_set.save(update_fields=["finished_at"])
    for position, clip in enumerate(clips):
        mp3 = _encode(clip.samples, clip.sample_rate, "MP3")
        flac = _encode(clip.samples, clip.sample_rate, "FLAC")
        stimulus = Stimulus(
            stimulus_set=stimulus_set,
            item_key=clip.item_key,
            position=position,
            duration_s=clip.info.duration_s,
            loudness_lufs=clip.info.loudness_lufs if np.isfinite(clip.info.loudness_lufs) else None,
            audio_sha256=_sha256(mp3),
            provenance={
                "imported_file": f"{condition}/{clip.path.name}",
                "original_sha256": clip.info.sha256,
                "sample_rate": clip.info.sample_rate,
                "channels": clip.info.channels,
            },
        )
        # Stored names are random-ish and say nothing about the condition.
        base = f"imp-{stimulus_set.pk}-{position}"
        stimulus.audio.save(f"{base}.mp3", ContentFile(mp3), save=False)
        written.append((stimulus.audio.storage, stimulus.audio.name))
        stimulus.audio_flac.save(f"{base}.flac", ContentFile(flac), save=False)
        written.append((stimulus.audio_flac.storage, stimulus.audio_flac.name))
        stimulus.full_clean(exclude=["stimulus_set"])
        stimulus.save()
    return stimulus_set


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def item_mismatches(sets: list[StimulusSet]) -> list[str]:
    """Items some imported sets render and others do not (a study needs the same items in all)."""
    keys = {s.name: set(s.stimuli.values_list("item_key", flat=True)) for s in sets}
    every = set.union(*keys.values()) if keys else set()
    return [
        f"{name}: missing {', '.join(sorted(every - have))}" for name, have in keys.items() if every - have
    ]
