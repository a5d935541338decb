"""Rendered multitracks shared by the separation tests: two chorales, 8 s each, at 8 kHz (tiny preset)."""

import pytest

from generation.separation.stems import chorale_midis, render_multitrack


@pytest.fixture(scope="session")
def rendered_tracks():
    return [
        render_multitrack(name, midi, sample_rate=8000, max_seconds=8.0)
        for name, midi in chorale_midis(limit=2)
    ]
