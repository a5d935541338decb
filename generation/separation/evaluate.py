"""BSS Eval of the separation model on held-out mixtures, next to two oracles and the floor.

Four sets of estimates are scored on the same excerpts of the same held-out pieces:

* model: the trained network (ratio masks from its heads, the mixture's phase);
* irm1: the ideal ratio mask |S_j| / sum_k |S_k| from the true stems, same STFT, mixture's phase --
  the oracle of the network's own mask form (its heads estimate magnitudes);
* irm2: the ideal ratio mask |S_j|^2 / sum_k |S_k|^2 (the Wiener-like power ratio), same STFT and
  phase. It scores higher than IRM1 on these mixtures, so IRM1 is not a ceiling of ratio-mask models
  with this STFT; neither oracle is a ceiling of separation in general;
* mixture: the mixture itself as the estimate of every source (the floor: no separation at all).

Two versions of BSS Eval, side by side:

* v4 (museval, what SiSEC 2018 and MUSDB18 results report): time-invariant 512-tap distortion
  filters over the whole excerpt, images version (no projection of the references onto the
  estimates), metrics in 1 s windows; a source's score on an excerpt is the median over its windows
  (windows where a reference is silent are left out), as museval aggregates a track;
* v3 (mir_eval `bss_eval_sources`): 512-tap filters, sources version, one value over the whole excerpt.

Each table entry is the median over excerpts of one source; "mean" is the mean of the four medians.
A source that is silent in an excerpt has no SDR and is left out of that excerpt's scores.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch

from generation.nets.separation import SOURCES, SeparationRNN, istft, stft
from generation.separation.multitrack import Multitrack

METHODS = ("model", "irm1", "irm2", "mixture")
METHOD_LABELS = {
    "model": "model",
    "irm1": "oracle IRM1 (|S| ratio)",
    "irm2": "oracle IRM2 (|S|² ratio)",
    "mixture": "mixture as estimate (floor)",
}
VERSIONS = ("v4", "v3")
SILENCE_RMS = 1e-4  # a reference quieter than this in an excerpt is "silent"
V4_WINDOW_SECONDS = 1.0  # museval's window and hop for MUSDB18 (1 s)


@dataclass
class Score:
    """One source of one excerpt under one method and one BSS Eval version."""

    track: str
    soundfont: str
    method: str
    version: str
    source: str
    sdr: float
    sir: float
    sar: float


def excerpt(track: Multitrack, seconds: float) -> np.ndarray:
    """The middle `seconds` of a track's stems, (4, samples) (the whole track when shorter)."""
    length = min(int(seconds * track.sample_rate), track.stems.shape[1])
    start = (track.stems.shape[1] - length) // 2
    return track.stems[:, start : start + length]


def oracle_estimates(stems: np.ndarray, *, n_fft: int, hop: int, power: int = 1) -> np.ndarray:
    """Ideal-ratio-mask estimates.

    Args:
        stems: (4, samples) true sources; the mixture is their sum.
        power: 1 for IRM1 (|S_j| / sum |S_k|), 2 for IRM2 (|S_j|^2 / sum |S_k|^2).

    Returns:
        (4, samples) estimates: the mask applied to the mixture's STFT, inverted.
    """
    sources = torch.from_numpy(np.ascontiguousarray(stems, dtype=np.float32))
    spec_sources = stft(sources, n_fft=n_fft, hop=hop)
    weights = spec_sources.abs() ** power
    masks = weights / (weights.sum(dim=0, keepdim=True) + 1e-12)
    mixture_spec = spec_sources.sum(dim=0)  # the STFT is linear
    return istft(masks * mixture_spec, n_fft=n_fft, hop=hop, length=stems.shape[1]).numpy()


def model_estimates(model: SeparationRNN, mixture: np.ndarray) -> np.ndarray:
    """(samples,) mixture at the model's rate -> (4, samples) estimates (bass, drums, music, vocals)."""
    model.eval()
    audio = torch.from_numpy(np.ascontiguousarray(mixture, dtype=np.float32)).unsqueeze(0)
    return model.separate(audio)[0].numpy()


def _sounding(references: np.ndarray) -> list[int]:
    return [i for i in range(len(references)) if np.sqrt(np.mean(references[i] ** 2)) > SILENCE_RMS]


def bss_eval(references: np.ndarray, estimates: np.ndarray) -> list[tuple[float, float, float] | None]:
    """BSS Eval v3 (mir_eval): SDR, SIR, SAR per source over the whole excerpt (None: silent reference).

    Args:
        references: (4, samples) true sources.
        estimates: (4, samples) estimates in the same order.
    """
    import mir_eval

    sounding = _sounding(references)
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


def _museval_metrics():
    """museval's BSS Eval v4 module (`museval/metrics.py`), loaded on its own.

    `import museval` runs the package's __init__, which imports musdb and stempeg, and stempeg refuses
    to load without ffmpeg. The metrics module needs only numpy and scipy, so it is loaded from
    museval's folder under a private package name, without that __init__ and without ffmpeg.
    """
    import importlib
    import importlib.util
    import sys
    import types

    package = "_docbgm_museval"
    if f"{package}.metrics" not in sys.modules:
        spec = importlib.util.find_spec("museval")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("museval is not installed: `pip install museval` (`make install` does it)")
        stub = types.ModuleType(package)
        stub.__path__ = list(spec.submodule_search_locations)
        sys.modules[package] = stub
    return importlib.import_module(f"{package}.metrics")


def bss_eval_v4(
    references: np.ndarray, estimates: np.ndarray, *, sample_rate: int
) -> list[tuple[float, float, float] | None]:
    """BSS Eval v4 (museval): SDR, SIR, SAR per source, medians over 1 s windows (None: silent).

    Args:
        references: (4, samples) true sources.
        estimates: (4, samples) estimates in the same order.
        sample_rate: of both, for the 1 s windows.
    """
    metrics = _museval_metrics()
    sounding = _sounding(references)
    results: list[tuple[float, float, float] | None] = [None] * len(references)
    if not sounding:
        return results
    window = int(V4_WINDOW_SECONDS * sample_rate)
    sdr, _, sir, sar, _ = metrics.bss_eval(
        references[sounding][:, :, None],
        estimates[sounding][:, :, None],
        window=window,
        hop=window,
        compute_permutation=False,
        framewise_filters=False,
        bsseval_sources_version=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # every window silent: NaN, left out below
        medians = [np.nanmedian(values, axis=1) for values in (sdr, sir, sar)]
    for position, index in enumerate(sounding):
        scores = tuple(float(m[position]) for m in medians)
        results[index] = None if np.isnan(scores[0]) else scores
    return results


def evaluate_tracks(
    model: SeparationRNN | None,
    tracks: list[Multitrack],
    *,
    seconds: float = 10.0,
    methods: tuple[str, ...] = METHODS,
    versions: tuple[str, ...] = VERSIONS,
    n_fft: int = 1024,
    hop: int = 512,
    progress: bool = False,
) -> list[Score]:
    """Score every method with every BSS Eval version on the middle `seconds` of every track.

    Args:
        model: the trained network (needed for "model"); its STFT is used for the oracles too.
        tracks: held-out pieces at the model's sample rate (stems at unit gain).
        seconds: excerpt length.
        methods: any of METHODS.
        versions: any of VERSIONS.
        n_fft, hop: the oracles' STFT when there is no model.
        progress: show a tqdm bar.
    """
    from tqdm import tqdm

    unknown = [m for m in methods if m not in METHODS] + [v for v in versions if v not in VERSIONS]
    if unknown:
        raise ValueError(f"unknown method or version {unknown}; choose from {METHODS} and {VERSIONS}")
    if "model" in methods and model is None:
        raise ValueError("the 'model' method needs a model")
    if model is not None:
        n_fft, hop = model.config.n_fft, model.config.hop
    scores: list[Score] = []
    for track in tqdm(tracks, disable=not progress, desc="bss eval", unit="track"):
        stems = excerpt(track, seconds).astype(np.float64)
        mixture = stems.sum(axis=0)
        for method in methods:
            if method == "model":
                estimates = model_estimates(model, mixture)
            elif method in ("irm1", "irm2"):
                estimates = oracle_estimates(stems, n_fft=n_fft, hop=hop, power=int(method[-1]))
            else:
                estimates = np.repeat(mixture[None], len(SOURCES), axis=0)
            estimates = estimates.astype(np.float64)
            for version in versions:
                results = (
                    bss_eval_v4(stems, estimates, sample_rate=track.sample_rate)
                    if version == "v4"
                    else bss_eval(stems, estimates)
                )
                for source, result in zip(SOURCES, results):
                    if result is not None:
                        scores.append(
                            Score(track.name, track.soundfont or "", method, version, source, *result)
                        )
    return scores


def summary(scores: list[Score], version: str = "v4") -> dict[str, dict[str, dict[str, float]]]:
    """Median SDR/SIR/SAR per method and source under one BSS Eval version, plus each method's "mean".

    Returns:
        {method: {source or "mean": {"sdr": .., "sir": .., "sar": .., "n": excerpts}}}
    """
    chosen_version = [s for s in scores if s.version == version]
    table: dict[str, dict[str, dict[str, float]]] = {}
    for method in dict.fromkeys(s.method for s in chosen_version):
        rows: dict[str, dict[str, float]] = {}
        for source in SOURCES:
            chosen = [s for s in chosen_version if s.method == method and s.source == source]
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
    """One version's summary as a Markdown table: one row per method, SDR / SIR / SAR per source (dB)."""
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
        lines.append(f"| {METHOD_LABELS.get(method, method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sdr_table(scores: list[Score]) -> str:
    """Median SDR per method and source, BSS Eval v4 and v3 side by side ("v4 / v3", dB), as Markdown."""
    tables = {version: summary(scores, version) for version in VERSIONS}
    columns = [*SOURCES, "mean"]
    lines = [
        "| method | " + " | ".join(f"{c} SDR v4 / v3" for c in columns) + " |",
        "| --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    methods = dict.fromkeys(m for table in tables.values() for m in table)
    for method in methods:
        cells = []
        for column in columns:
            values = [tables[v].get(method, {}).get(column, {}).get("sdr") for v in VERSIONS]
            cells.append(" / ".join("-" if value is None else f"{value:.2f}" for value in values))
        lines.append(f"| {METHOD_LABELS.get(method, method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scores_as_dicts(scores: list[Score]) -> list[dict]:
    return [asdict(s) for s in scores]
