"""A folder in the MUSDB18 (wav) layout, for researchers who have the data set.

    root/train/<track>/{mixture,bass,drums,other,vocals}.wav
    root/test/<track>/{mixture,bass,drums,other,vocals}.wav

MUSDB's "other" is our "music". The train folder is split by track name into train (about 90 %) and
validation; the test folder is the test split. Stems are mixed down to mono and resampled to the
model's rate; the mixture file itself is not needed for training (the mixture is the sum of the stems,
as in MUSDB), but its presence marks a track folder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import librosa
import numpy as np

from generation.audio import read_audio
from generation.nets.separation import SOURCES
from generation.separation.multitrack import Multitrack

STEM_FILES = {"bass": "bass.wav", "drums": "drums.wav", "music": "other.wav", "vocals": "vocals.wav"}


def track_folders(root: Path, subset: str) -> list[Path]:
    """The track folders of `subset` ("train" or "test"): those holding a mixture.wav, sorted by name."""
    base = Path(root) / subset
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / "mixture.wav").is_file())


def is_musdb_folder(root: Path) -> bool:
    """True when `root` has a train/ or test/ folder with at least one MUSDB18 track."""
    return Path(root).is_dir() and bool(track_folders(root, "train") or track_folders(root, "test"))


def load_track(folder: Path, *, sample_rate: int) -> Multitrack:
    """One MUSDB18 track as a Multitrack at `sample_rate` (mono; stems cut to the shortest).

    Raises:
        FileNotFoundError: a stem file is missing (the message names it).
        generation.audio.AudioError: a stem cannot be read.
    """
    stems = []
    for source in SOURCES:
        path = folder / STEM_FILES[source]
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing stem ({source})")
        samples, rate = read_audio(path)
        mono = samples.mean(axis=1)
        if rate != sample_rate:
            mono = librosa.resample(mono, orig_sr=rate, target_sr=sample_rate)
        stems.append(mono.astype(np.float32))
    length = min(len(s) for s in stems)
    return Multitrack(name=folder.name, sample_rate=sample_rate, stems=np.stack([s[:length] for s in stems]))


def musdb_split(name: str) -> str:
    """MUSDB's train tracks go to validation by a hash of the name (1 in 10), the rest to train."""
    return "validation" if int(hashlib.sha1(name.encode()).hexdigest(), 16) % 10 == 0 else "train"


def load_musdb(root: Path, *, split: str, sample_rate: int) -> list[Multitrack]:
    """The tracks of one split ("train", "validation", "test") of a MUSDB18-layout folder."""
    if split == "test":
        return [load_track(folder, sample_rate=sample_rate) for folder in track_folders(root, "test")]
    return [
        load_track(folder, sample_rate=sample_rate)
        for folder in track_folders(root, "train")
        if musdb_split(folder.name) == split
    ]
