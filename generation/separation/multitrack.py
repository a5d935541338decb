"""The Multitrack type: one piece as four aligned stems, whatever made it (rendered MIDI or MUSDB18)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Multitrack:
    """One piece as four aligned stems.

    Attributes:
        name: the piece's name (unique within its corpus).
        sample_rate: of `stems`.
        stems: (4, samples) float32 waveforms in SOURCES order (generation.nets.separation); their
            sum is the unit-gain mixture.
        soundfont: the file name of the soundfont it was rendered with (None for recorded audio).
    """

    name: str
    sample_rate: int
    stems: np.ndarray
    soundfont: str | None = None

    @property
    def seconds(self) -> float:
        return self.stems.shape[1] / self.sample_rate
