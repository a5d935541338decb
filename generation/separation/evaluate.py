"""BSS Eval of the separation model on held-out mixtures, next to its ceiling and its floor.

Three sets of estimates are scored on the same excerpts of the same held-out pieces:

* model: the trained network (ratio masks from its heads, the mixture's phase);
* oracle: the ideal ratio mask |S_j| / sum_k |S_k| computed from the true stems, with the same STFT
  and the mixture's phase -- the best any ratio-mask model of this STFT can do (the ceiling);
* mixture: the mixture itself as the estimate of every source (the floor: no separation at all).

Scores are SDR, SIR and SAR in dB per source from mir_eval's BSS Eval v3
(`mir_eval.separation.bss_eval_sources`, no permutation search) over each whole excerpt; the table
gives the median over excerpts, as SiSEC and MUSDB reports do. BSS Eval v4 (museval) would match
those reports more closely, but museval needs ffmpeg at import time, so we stay with mir_eval.
A source that is silent in an excerpt has no SDR and is left out of that excerpt's scores.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch

from generation.nets.separation import SOURCES, SeparationRNN, istft, stft
from generation.separation.ingest import separate_audio
from generation.separation.multitrack import Multitrack

METHODS = ("model", "oracle", "mixture")
SILENCE_RMS = 1e-4  # a reference quieter than this in an excerpt is "silent"


@dataclass
class Score:
    """One source of one excerpt under one method."""

    track: str
    method: str
    source: str
    sdr: float
    sir: float
    sar: float


def excerpt(track: Multitrack, seconds: float) -> np.ndarray:
    """The middle `seconds` of a track's stems, (4, samples) (the whole track when shorter)."""
    length = min(int(seconds * track.sample_rate), track.stems.shape[1])
    start = (track.stems.shape[1] - length) // 2
    return track.stems[:, start : start + length]


def oracle_estimates(stems: np.ndarray, *, n_fft: int, hop: int) -> np.ndarray:
    """Ideal-ratio-mask estimates.

    Args:
        stems: (4, samples) true sources; the mixture is their sum.

    Returns:
        (4, samples) estimates: |S_j| / sum_k |S_k| applied to the mixture's STFT, inverted.
    """
    sources = torch.from_numpy(np.ascontiguousarray(stems, dtype=np.float32))
    spec_sources = stft(sources, n_fft=n_fft, hop=hop)
    magnitudes = spec_sources.abs()
    masks = magnitudes / (magnitudes.sum(dim=0, keepdim=True) + 1e-8)
    mixture_spec = spec_sources.sum(dim=0)  # the STFT is linear
    return istft(masks * mixture_spec, n_fft=n_fft, hop=hop, length=stems.shape[1]).numpy()


def bss_eval(references: np.ndarray, estimates: np.ndarray) -> list[tuple[float, float, float] | None]:
    """SDR, SIR, SAR per source (None for a silent reference).

    Args:
        references: (4, samples) true sources.
        estimates: (4, samples) estimates in the same order.
    """
    import mir_eval

    sounding = [i for i in range(len(references)) if np.sqrt(np.mean(references[i] ** 2)) > SILENCE_RMS]
    results: list[tuple[float, float, float] | None] = [None] * len(references)
    if not sounding:
        return results
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mir_eval 0.8 marks BSS Eval v3 as deprecated
        sdr, sir, sar, _ = mir_eval.separation.bss_eval_sources(
            references[sounding], estimates[sounding], compute_permutation=False
        )
    for position, index in enumerate(sounding):
        results[index] = (float(sdr[position]), float(sir[position]), float(sar[position]))
    return results


def evaluate_tracks(
    model: SeparationRNN | None,
    tracks: list[Multitrack],
    *,
    seconds: float = 10.0,
    methods: tuple[str, ...] = METHODS,
    n_fft: int = 1024,
    hop: int = 512,
    progress: bool = False,
) -> list[Score]:
    """Score every method on the middle `seconds` of every track (stems mixed at unit gain).

    Args:
        model: the trained network (needed for "model"); its STFT is used for the oracle too.
        tracks: held-out pieces at the model's sample rate.
        seconds: excerpt length.
        methods: any of METHODS.
        n_fft, hop: the oracle's STFT when there is no model.
        progress: show a tqdm bar.
    """
    from tqdm import tqdm

    if model is not None:
        n_fft, hop = model.config.n_fft, model.config.hop
    scores: list[Score] = []
    for track in tqdm(tracks, disable=not progress, desc="bss eval", unit="track"):
        stems = excerpt(track, seconds).astype(np.float64)
        mixture = stems.sum(axis=0)
        for method in methods:
            if method == "model":
                if model is None:
                    raise ValueError("the 'model' method needs a model")
                estimates = separate_audio(model, mixture)
            elif method == "oracle":
                estimates = oracle_estimates(stems, n_fft=n_fft, hop=hop)
            elif method == "mixture":
                estimates = np.repeat(mixture[None], len(SOURCES), axis=0)
            else:
                raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
            for source, result in zip(SOURCES, bss_eval(stems, estimates.astype(np.float64))):
                if result is not None:
                    scores.append(Score(track.name, method, source, *result))
    return scores


def summary(scores: list[Score]) -> dict[str, dict[str, dict[str, float]]]:
    """Median SDR/SIR/SAR per method and source, plus each method's "mean" over the four sources.

    Returns:
        {method: {source or "mean": {"sdr": .., "sir": .., "sar": .., "n": excerpts}}}
    """
    table: dict[str, dict[str, dict[str, float]]] = {}
    for method in dict.fromkeys(s.method for s in scores):
        rows: dict[str, dict[str, float]] = {}
        for source in SOURCES:
            chosen = [s for s in scores if s.method == method and s.source == source]
            if chosen:
                rows[source] = {
                    metric: float(np.median([getattr(s, metric) for s in chosen]))
                    for metric in ("sdr", "sir", "sar")
                }
                rows[source]["n"] = len(chosen)
        rows["mean"] = {
            metric: float(np.mean([row[metric] for row in rows.values()])) for metric in ("sdr", "sir", "sar")
        }
        table[method] = rows
    return table


def markdown_table(table: dict[str, dict[str, dict[str, float]]]) -> str:
    """The summary as a Markdown table: one row per method, SDR / SIR / SAR per source (dB)."""
    columns = [*SOURCES, "mean"]
    lines = [
        "| method | " + " | ".join(f"{c} SDR / SIR / SAR" for c in columns) + " |",
        "| --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    for method, rows in table.items():
        cells = [
            f"{rows[c]['sdr']:.2f} / {rows[c]['sir']:.2f} / {rows[c]['sar']:.2f}" if c in rows else "-"
            for c in columns
        ]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scores_as_dicts(scores: list[Score]) -> list[dict]:
    return [asdict(s) for s in scores]
