"""Fixtures for the stimulus-set tests: a tiny saved corpus with held-out pieces and a tiny checkpoint.

Import the fixtures you use into a test module: `from tests.generation.stimuli_fixtures import ...`.
"""

from pathlib import Path

import numpy as np
import pytest

from generation.music.corpus import Piece, save_corpus, split_of
from generation.music.encoding import HOLD, REST

CORPUS = "stimuli-test"
# Two bars per chord pattern: C, G, Am, F (chord indices 0, 7, 21, 5), four beats each.
CHORDS = [0, 7, 21, 5]


def make_piece(key: str, *, bars: int = 4, transpose: int = 0) -> Piece:
    """A 4/4 piece: quarter notes climbing a scale over C G Am F, one chord per bar, one rest a bar."""
    melody, chords = [], []
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    for bar in range(bars):
        for beat in range(4):
            pitch = scale[(bar * 3 + beat) % 8] + transpose
            melody += [REST, REST, REST, REST] if beat == 3 and bar % 2 else [pitch, HOLD, HOLD, HOLD]
            chords += [CHORDS[bar % 4]] * 4
    return Piece(
        key=key,
        melody=np.array(melody, dtype=np.int64),
        chords=np.array(chords, dtype=np.int64),
        tempo_bpm=80.0,
        beats_per_bar=4,
        title=key,
    )


@pytest.fixture
def heldout_corpus(tmp_path, monkeypatch) -> str:
    """A saved corpus named CORPUS with 5 held-out pieces (and some train pieces), in an isolated folder.

    DOCBGM_CORPUS_DIR is set in the environment, so worker processes started afterwards see it too.
    """
    folder = tmp_path / "corpora"
    monkeypatch.setenv("DOCBGM_CORPUS_DIR", str(folder))
    pieces, heldout, index = [], 0, 0
    while heldout < 5:
        key = f"test/piece{index}"
        pieces.append(make_piece(key, transpose=index % 5))
        heldout += split_of(key) == "heldout"
        index += 1
    save_corpus(CORPUS, pieces, cache_dir=folder)
    return CORPUS


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    """A freshly initialised tiny 'proposed' network saved as safetensors + sidecar; returns the weights path."""
    import torch

    from generation.checkpoints import save_checkpoint
    from generation.nets.base import build_model

    torch.manual_seed(0)
    model = build_model("proposed", "tiny")
    return save_checkpoint(model, tmp_path / "ckpt" / "proposed-tiny", extra={"corpus": CORPUS, "steps": 0})
