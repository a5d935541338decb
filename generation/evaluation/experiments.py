"""The paper's objective experiments (Figures 3-6) and the symbolic metrics, one function each.

Every experiment works on the same items as the listening study (``generation.stimuli.heldout_items``:
the first K held-out pieces in 4/4, cut to the clip length, played at one tempo) and writes PNG + SVG
figures, CSV tables and a small ``index.html`` into its own folder:

    convergence   Figure 3: spectra of the sample music (S) and of music generated after 500, 1000 and
                  2000 training steps (G1-G3), with the divergence and "foreign frequency" figures
    structures    Figure 4: the same comparison at a fixed step count across network structures, plus
                  the bidirectional (proposed) model at 1000 and 3000 steps
    spectrograms  Figure 5: spectrograms of generated and sample music (single-layer LSTM by default)
                  and their difference in Hz (spectral centroids over time)
    melody        Figure 6: the pitch contour of an existing segment beside the generated continuation,
                  and the key (Krumhansl-Schmuckler) of each piece with its correlation
    symbolic      mgeval / MusPy metrics per piece and per set, against held-out real music and the low anchor

Melodies are rendered *without* the chord accompaniment: the accompaniment is the same in generated
and sample music (same progression), so keeping it would only dilute the spectral differences between
the melodies, which are what the models produce.

A step checkpoint is looked up as ``<dir>/<variant>-step<N>`` (what ``generation.training.train`` keeps)
or ``<dir>/<variant>`` when its sidecar says it was saved at step N. When none exists, the experiment
trains one (``train_missing``) with the given preset into ``<out>/checkpoints`` and reuses it next time.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from generation.checkpoints import checkpoint_paths, load_model, read_sidecar  # noqa: E402
from generation.evaluation import melody as melody_eval  # noqa: E402
from generation.evaluation import sets, spectral, symbolic  # noqa: E402
from generation.music.encoding import STEPS_PER_BEAT, parse_chord  # noqa: E402
from generation.music.midi import melody_to_midi  # noqa: E402
from generation.paths import PRETRAINED_DIR  # noqa: E402
from generation.rendering import render_midi  # noqa: E402
from generation.sampling import Sampling, sample_melody  # noqa: E402
from generation.stimuli import BEATS_PER_BAR, SECONDS, TEMPO_BPM, clip_steps, heldout_items, shuffle_pitches  # noqa: E402

EXPERIMENTS = ("convergence", "structures", "spectrograms", "melody", "symbolic", "sampling")
CONVERGENCE_STEPS = (500, 1000, 2000)  # the paper's G1-G3
STRUCTURE_VARIANTS = ("rnn", "gru", "unilstm", "proposed", "wavenet")  # the paper's Figure 4
STRUCTURE_STEPS = 2000  # "to ensure the fairness of the experiment, the process was iterated 2,000 times"
BIDIRECTIONAL_STEPS = (1000, 3000)  # the paper's extra runs of the bidirectional model
SPECTROGRAM_MAX_HZ = (
    5000  # a piano melody's partials above this are faint; the figure shows where the music is
)
SYMBOLIC_VARIANTS = ("proposed", "unilstm", "gru", "rnn", "lstm1", "wavenet", "bilstm", "ec2vae", "vded")


@dataclass
class Settings:
    """What every experiment shares. Defaults give a run of a few minutes on a laptop CPU."""

    out: Path
    items: int = 5  # K held-out progressions, as in the listening study (3 groups x 5 clips)
    seed: int = 0  # item i is generated with seed + i, as stimulus sets do
    temperature: float | None = None  # None: generation.sampling.DEFAULT_SAMPLING's
    top_p: float | None = None  # None: DEFAULT_SAMPLING's
    draws: int = 5  # melodies per item (seeds seed + i + 100 j) in the distance-to-real table
    corpus: str = "chorales"
    seconds: float = SECONDS  # clip length (cut to whole bars): the listening study's clips
    sample_rate: int = 22050  # half the stimulus rate: spectra to 11 kHz hold nearly all of a piano's energy
    checkpoint_dirs: tuple[Path, ...] = (PRETRAINED_DIR,)
    train_missing: bool = True  # train step checkpoints that do not exist (convergence, structures)
    preset: str = "tiny"  # the preset trained when a checkpoint is missing: seconds per 100 steps on a CPU
    progress: bool = False
    log: Callable[[str], None] = print
    cache: dict = field(
        default_factory=dict, repr=False
    )  # melodies per checkpoint, items per corpus: one run

    @property
    def steps(self) -> int:
        return clip_steps(self.seconds, tempo_bpm=TEMPO_BPM, beats_per_bar=BEATS_PER_BAR)

    @property
    def sampling(self) -> Sampling:
        overrides = {"temperature": self.temperature, "top_p": self.top_p}
        return Sampling.from_dict({k: v for k, v in overrides.items() if v is not None})


@dataclass
class Page:
    """One experiment's folder: what its index.html shows."""

    title: str
    intro: str
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file stem, caption)
    tables: list[tuple[str, pd.DataFrame, str]] = field(default_factory=list)  # (csv name, frame, caption)
    notes: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (href, text)


# ----------------------------------------------------------------------------------------- shared parts


def items_for(settings: Settings):
    from generation.music.corpus import load_corpus

    if "items" not in settings.cache:
        corpus = load_corpus(settings.corpus)
        settings.cache["items"] = heldout_items(corpus.heldout, count=settings.items, steps=settings.steps)
    return settings.cache["items"]


def generate_set(checkpoint: Path, items, settings: Settings) -> list[np.ndarray]:
    """The melodies of one checkpoint on the items (item i with seed + i); computed once per run."""
    key = ("melodies", str(checkpoint), tuple(item.key for item in items))
    if key not in settings.cache:
        model = load_model(checkpoint)
        settings.cache[key] = [
            sample_melody(model, item.chords, seed=settings.seed + i, sampling=settings.sampling)
            for i, item in enumerate(items)
        ]
    return settings.cache[key]


def render(melody: np.ndarray, chords: np.ndarray, settings: Settings) -> np.ndarray:
    """(n, 2) audio of the melody alone, at the stimuli's tempo and instrument."""
    midi = melody_to_midi(
        melody, chords, tempo_bpm=TEMPO_BPM, beats_per_bar=BEATS_PER_BAR, accompaniment="none"
    )
    return render_midi(midi, sample_rate=settings.sample_rate)


def find_checkpoint(variant: str, settings: Settings, step: int | None = None) -> Path | None:
    """The weights of `variant` (at `step` if given) in the checkpoint folders or `<out>/checkpoints`."""
    folders = [*settings.checkpoint_dirs, settings.out / "checkpoints"]
    for folder in folders:
        final, _ = checkpoint_paths(Path(folder) / variant)
        if step is None:
            if final.exists():
                return final
            continue
        at_step, _ = checkpoint_paths(Path(folder) / f"{variant}-step{step}")
        if at_step.exists():
            return at_step
        if final.exists() and int(read_sidecar(final).get("steps", -1)) == step:
            return final
    return None


def variants_with_checkpoints(candidates: Sequence[str], settings: Settings) -> list[str]:
    return [v for v in candidates if find_checkpoint(v, settings) is not None]


def registered(variant: str) -> bool:
    import generation.nets  # noqa: F401  (registers every net)
    from generation.nets.base import VARIANTS

    return variant in VARIANTS


def step_checkpoints(variant: str, steps: Sequence[int], settings: Settings) -> dict[int, Path]:
    """A checkpoint of `variant` at each of `steps`; trains the missing ones in one run if allowed."""
    found = {step: find_checkpoint(variant, settings, step) for step in steps}
    missing = [step for step, path in found.items() if path is None]
    if not missing:
        return found
    if not settings.train_missing:
        raise FileNotFoundError(
            f"no checkpoint of {variant} at steps {missing}; train them or allow training"
        )
    from generation.recipes import train_config, train_variant

    config = train_config(
        variant,
        settings.preset,
        steps=max(steps),
        checkpoint_steps=tuple(steps),
        seed=settings.seed,
        device="cpu",
    )
    stem = settings.out / "checkpoints" / variant
    stem.parent.mkdir(parents=True, exist_ok=True)
    settings.log(
        f"training {variant} ({settings.preset}) for {max(steps)} steps: checkpoints at {list(steps)}"
    )
    train_variant(
        variant,
        preset=settings.preset,
        corpus=settings.corpus,
        config=config,
        out=stem,
        command="evaluate",
        validate=False,
        progress=settings.progress,
    )
    return {step: find_checkpoint(variant, settings, step) for step in steps}


def mean_loss_near(sidecar: dict, step: int, window: int = 50) -> float:
    losses = sidecar.get("losses", {}).get("train", [])[:step]
    return float(np.mean(losses[-window:])) if losses else math.nan


# ----------------------------------------------------------------------------------------------- output


def save_figure(fig, folder: Path, stem: str) -> None:
    fig.savefig(folder / f"{stem}.png", dpi=120, bbox_inches="tight")
    fig.savefig(folder / f"{stem}.svg", bbox_inches="tight")
    plt.close(fig)


def write_page(folder: Path, page: Page) -> Path:
    """CSV files for the tables and index.html showing figures, tables and notes."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(page.title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}"
        "img{max-width:100%}table{border-collapse:collapse;font-size:.9rem}"
        "td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}</style></head><body>",
        f"<h1>{html.escape(page.title)}</h1><p>{html.escape(page.intro)}</p>",
    ]
    if page.links:
        items = "".join(f"<li><a href='{href}'>{html.escape(text)}</a></li>" for href, text in page.links)
        parts.append(f"<ul>{items}</ul>")
    for stem, caption in page.figures:
        parts.append(
            f"<figure><img src='{stem}.png' alt='{html.escape(caption)}'><figcaption>{html.escape(caption)} "
            f"(<a href='{stem}.svg'>SVG</a>)</figcaption></figure>"
        )
    for name, frame, caption in page.tables:
        frame.to_csv(folder / name)
        parts.append(f"<h2>{html.escape(caption)}</h2><p><a href='{name}'>{name}</a></p>")
        parts.append(frame.to_html(float_format=lambda x: f"{x:.4g}", na_rep="–"))
    if page.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(note)}</li>" for note in page.notes) + "</ul>")
    parts.append("</body></html>")
    index = folder / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    return index


def _db(power: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.maximum(power, 1e-12))


def spectrum_overlay(
    folder: Path, stem: str, freqs: np.ndarray, sample: np.ndarray, curves: dict[str, np.ndarray], title: str
) -> None:
    """The sample spectrum (S) with each generated one overlaid, and one small panel per curve."""
    fig, axes = plt.subplots(1 + len(curves), 1, figsize=(9, 2.2 * (1 + len(curves))), sharex=True)
    axes = np.atleast_1d(axes)
    axes[0].semilogx(freqs, _db(sample), color="black", lw=1.2, label="S (sample music)")
    for label, power in curves.items():
        axes[0].semilogx(freqs, _db(power), lw=0.8, alpha=0.8, label=label)
    axes[0].set_title(title)
    axes[0].legend(fontsize=7, ncol=3)
    for ax, (label, power) in zip(axes[1:], curves.items()):
        ax.semilogx(freqs, _db(sample), color="black", lw=0.8, alpha=0.6, label="S")
        ax.semilogx(freqs, _db(power), lw=0.8, color="tab:red", label=label)
        ax.legend(fontsize=7, loc="upper right")
    for ax in axes:
        ax.set_ylabel("dB")
        ax.set_ylim(-110, max(-10, float(_db(sample).max()) + 5))
    axes[-1].set_xlabel("frequency (Hz)")
    save_figure(fig, folder, stem)


# ------------------------------------------------------------------------------------------ experiments


def _spectrum_of(melodies: Sequence[np.ndarray], items, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    key = ("spectrum", tuple(m.tobytes() for m in melodies))
    if key not in settings.cache:
        audio = [render(m, item.chords, settings) for m, item in zip(melodies, items)]
        settings.cache[key] = spectral.average_spectrum(audio, settings.sample_rate)
    return settings.cache[key]


def _sample_spectrum(items, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    return _spectrum_of([item.melody for item in items], items, settings)


def _comparison_row(power: np.ndarray, sample_power: np.ndarray) -> dict:
    return asdict(spectral.compare_spectra(power, sample_power))


def convergence(
    settings: Settings, *, variant: str = "proposed", steps: Sequence[int] = CONVERGENCE_STEPS
) -> Path:
    """Figure 3: the average spectrum of music generated after each number of steps vs the sample music."""
    folder = settings.out / "convergence"
    folder.mkdir(parents=True, exist_ok=True)
    items = items_for(settings)
    freqs, sample_power = _sample_spectrum(items, settings)
    paths = step_checkpoints(variant, steps, settings)
    rows, curves = [], {}
    for index, step in enumerate(steps, start=1):
        label = f"G{index} ({step} steps)"
        _, power = _spectrum_of(generate_set(paths[step], items, settings), items, settings)
        curves[label] = power
        sidecar = read_sidecar(paths[step])
        rows.append(
            {
                "label": label,
                "step": step,
                "train_loss": mean_loss_near(sidecar, step),
                **_comparison_row(power, sample_power),
                "checkpoint": str(paths[step]),
            }
        )
        settings.log(f"convergence {label}: JS {rows[-1]['js_divergence']:.4f}")
    table = pd.DataFrame(rows).set_index("label")
    spectrum_overlay(
        folder,
        "spectra",
        freqs,
        sample_power,
        curves,
        f"{variant}: average spectrum after each number of steps",
    )
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(table["step"], table["js_divergence"], "o-", label="JS divergence (bits)")
    ax.plot(table["step"], table["foreign_energy_share"], "s-", label="energy at frequencies S does not use")
    ax.set_xlabel("training steps")
    ax.legend(fontsize=8)
    save_figure(fig, folder, "divergence")
    write_page(
        folder,
        Page(
            title="Convergence (paper Figure 3)",
            intro=f"{variant}: the long-term average spectrum of melodies generated on {len(items)} held-out progressions "
            f"after {', '.join(map(str, steps))} training steps (G1-G{len(steps)}) against the sample music S (the held-out melodies).",
            figures=[
                ("spectra", "Average spectra, S and G1..Gn"),
                ("divergence", "Divergence from S by training steps"),
            ],
            tables=[("convergence.csv", table, "Spectral divergence per number of steps")],
            notes=_spectral_notes(),
        ),
    )
    return folder


def structures(
    settings: Settings,
    *,
    variants: Sequence[str] = STRUCTURE_VARIANTS,
    steps: int = STRUCTURE_STEPS,
    bidirectional_steps: Sequence[int] = BIDIRECTIONAL_STEPS,
) -> Path:
    """Figure 4: each structure at `steps`, plus the bidirectional (proposed) model at `bidirectional_steps`."""
    folder = settings.out / "structures"
    folder.mkdir(parents=True, exist_ok=True)
    items = items_for(settings)
    freqs, sample_power = _sample_spectrum(items, settings)
    runs: list[tuple[str, int]] = []
    notes = _spectral_notes()
    for variant in variants:
        if not registered(variant):
            notes.append(f"{variant}: not registered in generation.nets, left out")
            continue
        wanted = sorted({steps, *bidirectional_steps}) if variant == "proposed" else [steps]
        step_checkpoints(variant, wanted, settings)
        runs += [(variant, s) for s in wanted]
    rows, curves = [], {}
    for variant, step in runs:
        path = find_checkpoint(variant, settings, step)
        _, power = _spectrum_of(generate_set(path, items, settings), items, settings)
        label = f"{variant} @ {step}"
        curves[label] = power
        rows.append(
            {
                "run": label,
                "variant": variant,
                "step": step,
                "train_loss": mean_loss_near(read_sidecar(path), step),
                **_comparison_row(power, sample_power),
            }
        )
        settings.log(f"structures {label}: JS {rows[-1]['js_divergence']:.4f}")
    table = pd.DataFrame(rows).set_index("run")
    spectrum_overlay(
        folder,
        "spectra",
        freqs,
        sample_power,
        curves,
        "Average spectra of each structure vs sample music (S)",
    )
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(table.index, table["js_divergence"], color="tab:blue")
    ax.set_ylabel("JS divergence from S (bits)")
    ax.tick_params(axis="x", rotation=30)
    save_figure(fig, folder, "divergence")
    write_page(
        folder,
        Page(
            title="Network structures (paper Figure 4)",
            intro=f"Average spectra after {steps} steps for each structure, and the bidirectional (proposed) model after "
            f"{', '.join(map(str, bidirectional_steps))} steps, on {len(items)} held-out progressions.",
            figures=[
                ("spectra", "Average spectra per structure"),
                ("divergence", "JS divergence from the sample music"),
            ],
            tables=[("structures.csv", table, "Spectral divergence per structure")],
            notes=notes,
        ),
    )
    return folder


def spectrograms(settings: Settings, *, variant: str = "lstm1", steps: int | None = STRUCTURE_STEPS) -> Path:
    """Figure 5: spectrograms of generated and sample music, and their difference in Hz."""
    folder = settings.out / "spectrograms"
    folder.mkdir(parents=True, exist_ok=True)
    items = items_for(settings)
    path = (
        step_checkpoints(variant, [steps], settings)[steps] if steps else find_checkpoint(variant, settings)
    )
    if path is None:
        raise FileNotFoundError(f"no checkpoint of {variant}")
    generated = generate_set(path, items, settings)
    rows = []
    shown = None
    for i, (item, melody) in enumerate(zip(items, generated)):
        real_audio = render(item.melody, item.chords, settings)
        gen_audio = render(melody, item.chords, settings)
        rows.append(
            {
                "item": item.key,
                "centroid_difference_hz": spectral.centroid_difference_hz(
                    gen_audio, real_audio, settings.sample_rate
                ),
            }
        )
        if i == 0:
            shown = (item, real_audio, gen_audio)
    table = pd.DataFrame(rows).set_index("item")
    summary = pd.DataFrame(
        [
            {
                "variant": variant,
                "checkpoint_steps": read_sidecar(path).get("steps"),
                "items": len(table),
                "mean_centroid_difference_hz": table["centroid_difference_hz"].mean(),
                "median_centroid_difference_hz": table["centroid_difference_hz"].median(),
            }
        ]
    ).set_index("variant")
    item, real_audio, gen_audio = shown
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), gridspec_kw={"width_ratios": [1, 1, 1.2]})
    for ax, audio, name in (
        (axes[0], real_audio, "sample music"),
        (axes[1], gen_audio, f"generated ({variant})"),
    ):
        times, freqs, db = spectral.spectrogram_db(audio, settings.sample_rate)
        shown_bins = freqs <= SPECTROGRAM_MAX_HZ
        # A raster image: a vector mesh of every time-frequency cell makes SVGs of many megabytes.
        image = ax.imshow(
            db[shown_bins],
            origin="lower",
            aspect="auto",
            extent=(0, float(times[-1]), 0, float(freqs[shown_bins][-1])),
            vmin=-80,
            vmax=0,
            cmap="magma",
        )
        ax.set_title(f"{name}: {item.key}")
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (Hz)")
    fig.colorbar(image, ax=axes[1], label="dB")
    for audio, name in ((real_audio, "sample"), (gen_audio, "generated")):
        times, centroid = spectral.spectral_centroid_track(audio, settings.sample_rate)
        axes[2].plot(times, centroid, lw=0.8, label=name)
    axes[2].set_title(
        f"spectral centroid: mean |difference| {table['centroid_difference_hz'].iloc[0]:.0f} Hz"
    )
    axes[2].set_xlabel("time (s)")
    axes[2].set_ylabel("Hz")
    axes[2].legend(fontsize=8)
    save_figure(fig, folder, "spectrograms")
    write_page(
        folder,
        Page(
            title="Spectrograms (paper Figure 5)",
            intro=f"{variant} ({read_sidecar(path).get('steps')} steps) against the sample music on {len(items)} held-out "
            "progressions. The difference in Hz is the mean absolute difference of the spectral centroids over time "
            "(frames where both are audible); the paper reports about 50-100 Hz.",
            figures=[("spectrograms", "Spectrograms of the first item and the centroid tracks")],
            tables=[
                ("summary.csv", summary, "Difference in Hz"),
                ("centroid_difference.csv", table, "Per item"),
            ],
        ),
    )
    return folder


def melody(settings: Settings, *, variant: str = "proposed", prime_bars: int = 4) -> Path:
    """Figure 6: an existing segment's contour beside the generated continuation, and keys."""
    folder = settings.out / "melody"
    folder.mkdir(parents=True, exist_ok=True)
    items = items_for(settings)
    path = find_checkpoint(variant, settings)
    if path is None:
        raise FileNotFoundError(f"no checkpoint of {variant}")
    model = load_model(path)
    prime_steps = min(prime_bars * BEATS_PER_BAR * STEPS_PER_BEAT, settings.steps // 2)
    rows = []
    fig, axes = plt.subplots(len(items), 1, figsize=(10, 2.2 * len(items)), squeeze=False)
    for i, item in enumerate(items):
        generated = sample_melody(
            model,
            item.chords,
            seed=settings.seed + i,
            sampling=settings.sampling,
            prime=item.melody[:prime_steps],
        )
        continuation = generated[prime_steps:]
        real_key = melody_eval.estimate_key(item.melody)
        real_cont_key = melody_eval.estimate_key(item.melody[prime_steps:])
        gen_key = melody_eval.estimate_key(generated)
        cont_key = melody_eval.estimate_key(continuation)
        # Agreement is scored on the continuation alone: the prime is the real melody, so a key estimated
        # over the whole clip agrees half by construction.
        rows.append(
            {
                "item": item.key,
                "real_key": real_key.name,
                "real_correlation": real_key.correlation,
                "real_continuation_key": real_cont_key.name,
                "generated_key_with_prime": gen_key.name,
                "continuation_key": cont_key.name,
                "continuation_correlation": cont_key.correlation,
                "continuation_runner_up": cont_key.runner_up,
                "continuation_runner_up_correlation": cont_key.runner_up_correlation,
                "continuation_keeps_key": cont_key.name == real_cont_key.name,
            }
        )
        ax = axes[i, 0]
        t, p = melody_eval.pitch_contour(item.melody[:prime_steps])
        ax.step(t, p, where="post", color="black", lw=1.5, label="existing segment")
        t, p = melody_eval.pitch_contour(continuation, start_step=prime_steps)
        ax.step(
            t,
            p,
            where="post",
            color="tab:red",
            lw=1.2,
            label=f"generated continuation ({cont_key.name}, r={cont_key.correlation:.2f})",
        )
        t, p = melody_eval.pitch_contour(item.melody[prime_steps:], start_step=prime_steps)
        ax.step(
            t, p, where="post", color="grey", lw=0.8, ls=":", label=f"real continuation ({real_key.name})"
        )
        ax.axvline(prime_steps / STEPS_PER_BEAT, color="grey", lw=0.5)
        ax.set_ylabel("MIDI pitch")
        ax.set_title(item.key, fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("beats")
    save_figure(fig, folder, "contours")
    table = pd.DataFrame(rows).set_index("item")
    keys = table["continuation_key"].value_counts().rename("pieces").to_frame()
    kept = int(table["continuation_keeps_key"].sum())
    settings.log(f"melody: {kept} of {len(table)} generated continuations keep the real continuation's key")
    write_page(
        folder,
        Page(
            title="Melody contour and key (paper Figure 6)",
            intro=f"{variant}: the first {prime_steps // STEPS_PER_BEAT} beats of each held-out melody are forced (the existing "
            "segment); the model continues it over the real chords. Keys are music21's Krumhansl-Schmuckler estimates "
            f"with their correlation coefficient. {kept} of {len(table)} generated continuations are in the key of the real "
            "continuation (scored on the continuation only: the prime is the real melody).",
            figures=[
                (
                    "contours",
                    "Existing segment (black), generated continuation (red), real continuation (dotted)",
                )
            ],
            tables=[
                ("keys.csv", table, "Key of each piece"),
                ("key_counts.csv", keys, "Keys of the generated continuations"),
            ],
        ),
    )
    return folder


def symbolic_sets(
    settings: Settings, variants: Sequence[str]
) -> dict[str, tuple[list, list[symbolic.PieceMetrics]]]:
    """{set name: (melodies, metrics)} for each variant with a checkpoint, real music and the low anchor."""
    items = items_for(settings)
    result = {}
    for variant in variants:
        path = find_checkpoint(variant, settings)
        if path is None:
            continue
        melodies = generate_set(path, items, settings)
        result[variant] = (
            melodies,
            [symbolic.piece_metrics(m, item.chords) for m, item in zip(melodies, items)],
        )
    real = [item.melody for item in items]
    anchor = [shuffle_pitches(item.melody, seed=settings.seed + i) for i, item in enumerate(items)]
    result["real"] = (real, [symbolic.piece_metrics(m, item.chords) for m, item in zip(real, items)])
    result["low_anchor"] = (
        anchor,
        [symbolic.piece_metrics(m, item.chords) for m, item in zip(anchor, items)],
    )
    return result


def item_key(melody: np.ndarray) -> tuple[int, str]:
    """(tonic pitch class, "major"/"minor") of a real melody (Krumhansl-Schmuckler, music21)."""
    estimate = melody_eval.estimate_key(melody)
    return parse_chord(estimate.tonic) % 12 if estimate.tonic else 0, estimate.mode or "major"


def draw_melodies(
    model, items, settings: Settings, sampling: Sampling | None = None
) -> list[list[np.ndarray]]:
    """settings.draws melodies per item ([item][draw]): item i, draw j with seed settings.seed + i + 100 j."""
    sampling = sampling or settings.sampling
    return [
        [
            sample_melody(model, item.chords, seed=settings.seed + i + 100 * j, sampling=sampling)
            for j in range(settings.draws)
        ]
        for i, item in enumerate(items)
    ]


def distance_to_real(melodies: dict[str, list[list[np.ndarray]]], items) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How far each set's melodies are from the real melodies of the same items, measure by measure.

    Args:
        melodies: {set name: [item][draw] (T,) melody tokens}, the items in `items`' order.
        items: the StimulusItems (their real melody, chords and key).

    Returns:
        (table, differences). table: one row per set (and "real") with each ITEM_MEASURE's mean over
        items (a set's per-item value is the mean over its draws), "distance" (the mean over measures of
        |set - real| in units of how far another real melody is: the mean over items i of |measure of
        item i+1's real melody on item i - measure of item i's|), the number of melodies and of
        degenerate ones by kind. differences: per set and
        measure, the mean paired difference set - real over items with a t 95 % CI.
    """
    from scipy import stats

    keys = [item_key(item.melody) for item in items]

    def measures(draws, item, key) -> dict[str, float]:
        rows = [symbolic.item_measures(m, item.chords, item.melody, tonic=key[0], mode=key[1]) for m in draws]
        return {name: float(np.nanmean([r[name] for r in rows])) for name in symbolic.ITEM_MEASURES}

    per_item = {"real": pd.DataFrame([measures([i.melody], i, k) for i, k in zip(items, keys)])}
    for name, by_item in melodies.items():
        per_item[name] = pd.DataFrame([measures(d, i, k) for d, i, k in zip(by_item, items, keys)])
    real = per_item["real"]
    # The unit of distance: another real melody (item i+1's, on item i's chords and key) differs this much.
    others = [
        measures([items[(i + 1) % len(items)].melody], item, k)
        for i, (item, k) in enumerate(zip(items, keys))
    ]
    spread = (pd.DataFrame(others) - real).abs().mean().replace(0, np.nan)
    rows, diffs = [], []
    for name, frame in per_item.items():
        drawn = [[i.melody] for i in items] if name == "real" else melodies[name]
        kinds = [symbolic.degeneracy(m) for draws in drawn for m in draws]
        row = {"set": name, **frame.mean().to_dict()}
        # Measures on which the real items do not differ from one another give no unit and are left out.
        row["distance"] = (
            0.0 if name == "real" else float(((frame.mean() - real.mean()).abs() / spread).mean())
        )
        row["melodies"] = len(kinds)
        row["degenerate"] = sum(k is not None for k in kinds)
        for kind in symbolic.DEGENERATE_KINDS:
            row[kind] = kinds.count(kind)
        rows.append(row)
        if name == "real":
            continue
        for measure in symbolic.ITEM_MEASURES:
            d = (frame[measure] - real[measure]).dropna().to_numpy()
            half = (
                stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else math.nan
            )
            diffs.append(
                {
                    "set": name,
                    "measure": measure,
                    "real": float(real[measure].mean()),
                    "set_mean": float(frame[measure].mean()),
                    "difference": float(d.mean()),
                    "ci_low": float(d.mean() - half),
                    "ci_high": float(d.mean() + half),
                }
            )
    return pd.DataFrame(rows).set_index("set"), pd.DataFrame(diffs).set_index(["set", "measure"])


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A frame as a Markdown table (what docs/evaluation.md pastes)."""
    head = "| " + " | ".join([frame.index.name or "", *map(str, frame.columns)]) + " |"
    lines = [head, "|" + " --- |" * (len(frame.columns) + 1)]
    for index, row in frame.iterrows():
        cells = [f"{v:.{digits}g}" if isinstance(v, float) else str(v) for v in row.tolist()]
        lines.append("| " + " | ".join([str(index), *cells]) + " |")
    return "\n".join(lines)


STUDY_VARIANTS = ("proposed", "bilstm", "ec2vae", "vded")  # the listening study's four systems
SAMPLING_GRID = {"temperature": (0.4, 0.5, 0.6, 0.7, 0.8, 1.0), "top_p": (0.7, 0.8, 0.9, 1.0)}


def sampling_choice(
    settings: Settings,
    *,
    variants: Sequence[str] = STUDY_VARIANTS,
    temperatures: Sequence[float] = SAMPLING_GRID["temperature"],
    top_ps: Sequence[float] = SAMPLING_GRID["top_p"],
) -> Path:
    """Choose the sampling defaults on the validation split (never the held-out items) and print them.

    Every (temperature, top_p) of the grid (default SAMPLING_GRID), with DEFAULT_SAMPLING's rest and hold limits, samples
    settings.draws melodies on the first settings.items validation pieces in 4/4 for each variant; the
    choice minimises the mean over variants of the distance to the real validation melodies
    (`distance_to_real`) plus the share of degenerate melodies.
    """
    from generation.music.corpus import load_corpus

    folder = settings.out / "sampling"
    folder.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus(settings.corpus)
    items = heldout_items(corpus.validation, count=settings.items, steps=settings.steps)
    runs = {"rest": [], "note": []}
    for piece in corpus.validation:
        notes = symbolic.melody_notes(piece.melody)
        runs["note"].append(max((n.duration for n in notes), default=0))
        rests = np.flatnonzero(symbolic.sounding_pitch(piece.melody) < 0)
        gaps = np.split(rests, np.flatnonzero(np.diff(rests) > 1) + 1) if len(rests) else []
        runs["rest"].append(
            max((len(g) for g in gaps if len(g) and g[0] > 0 and g[-1] < len(piece.melody) - 1), default=0)
        )
    settings.log(
        f"sampling: validation melodies ({len(corpus.validation)}): longest inner rest {max(runs['rest'])} steps, "
        f"longest note {max(runs['note'])} steps (95th percentiles {np.percentile(runs['rest'], 95):.0f}, "
        f"{np.percentile(runs['note'], 95):.0f}); limits {settings.sampling.rules().to_dict()}"
    )
    models = {v: load_model(p) for v in variants if (p := find_checkpoint(v, settings)) is not None}
    rows = []
    for temperature in temperatures:
        for top_p in top_ps:
            sampling = Sampling.from_dict({"temperature": temperature, "top_p": top_p})
            drawn = {v: draw_melodies(m, items, settings, sampling) for v, m in models.items()}
            table, _ = distance_to_real(drawn, items)
            table = table.drop(index="real")
            row = {"temperature": temperature, "top_p": top_p}
            row.update({f"{v}_distance": table.loc[v, "distance"] for v in models})
            row["degenerate"] = int(table["degenerate"].sum())
            row["score"] = float(
                table["distance"].mean() + table["degenerate"].sum() / table["melodies"].sum()
            )
            rows.append(row)
            settings.log(f"sampling: {row}")
    grid = pd.DataFrame(rows).set_index(["temperature", "top_p"])
    best = grid["score"].idxmin()
    settings.log(
        f"sampling: {len(items)} validation items x {settings.draws} draws x {list(models)}\n"
        + markdown_table(grid.reset_index().set_index("temperature"))
        + f"\nchosen: temperature {best[0]}, top_p {best[1]}"
    )
    write_page(
        folder,
        Page(
            title="Sampling defaults, chosen on the validation split",
            intro=f"Chosen: temperature {best[0]}, top_p {best[1]} (lowest score = mean distance to the real validation "
            "melodies over the study's systems + share of degenerate melodies).",
            tables=[("grid.csv", grid, "Every setting of the grid")],
        ),
    )
    return folder


def symbolic_metrics(settings: Settings, *, variants: Sequence[str] = SYMBOLIC_VARIANTS) -> Path:
    """Per-piece metrics, per-feature set comparisons against real music, and the table across sets."""
    folder = settings.out / "symbolic"
    folder.mkdir(parents=True, exist_ok=True)
    items = items_for(settings)
    drawn = {}
    for variant in variants:
        path = find_checkpoint(variant, settings)
        if path is not None:
            drawn[variant] = draw_melodies(load_model(path), items, settings)
            # Draw 0 of item i is what generate_set samples (seed + i): the per-piece metrics reuse it.
            settings.cache[("melodies", str(path), tuple(item.key for item in items))] = [
                d[0] for d in drawn[variant]
            ]
    drawn["low_anchor"] = [
        [shuffle_pitches(item.melody, seed=settings.seed + i + 100 * j) for j in range(settings.draws)]
        for i, item in enumerate(items)
    ]
    distance, differences = distance_to_real(drawn, items)
    settings.log(
        f"symbolic: {len(items)} items x {settings.draws} draws, sampling {settings.sampling.to_dict()}\n"
        + markdown_table(distance)
    )
    by_set = symbolic_sets(settings, variants)
    metrics = {name: pieces for name, (_, pieces) in by_set.items()}
    table = sets.sets_table(metrics, reference="real")
    per_piece = pd.concat(
        [
            sets.metrics_frame(pieces).assign(set=name, item=range(len(pieces)))
            for name, pieces in metrics.items()
        ]
    ).set_index(["set", "item"])
    comparisons = pd.concat(
        {
            name: sets.compare_sets(pieces, metrics["real"])
            for name, pieces in metrics.items()
            if name != "real"
        }
    )
    comparisons.index.names = ["set", "feature"]
    names = list(metrics)
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
    for ax, column in zip(axes, ("chord_tone_ratio", "scale_consistency", "pitch_entropy")):
        ax.bar(
            names,
            table[column],
            color=[
                "tab:green" if n == "real" else "tab:grey" if n == "low_anchor" else "tab:blue" for n in names
            ],
        )
        ax.set_title(column.replace("_", " "))
        ax.tick_params(axis="x", rotation=45)
    save_figure(fig, folder, "metrics")
    fig, ax = plt.subplots(figsize=(9, 3.5))
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        hist = np.mean([p.pitch_class_histogram for p in metrics[name]], axis=0)
        ax.bar(np.arange(12) + k * width, hist, width=width, label=name)
    ax.set_xticks(np.arange(12) + 0.4, ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"])
    ax.set_ylabel("share of notes")
    ax.legend(fontsize=7, ncol=4)
    save_figure(fig, folder, "pitch_classes")
    write_page(
        folder,
        Page(
            title="Symbolic metrics (Yang & Lerch 2018; MusPy)",
            intro=f"{settings.items} held-out progressions per set; every model samples with seed {settings.seed} + item "
            f"(+ 100 per further draw) under {settings.sampling.to_dict()}. "
            "Overlap area (higher is better) and KL divergence (lower is better) compare the real music's intra-set "
            "distances with the inter-set distances between a set and real music, per feature; the table gives their means.",
            figures=[
                ("metrics", "Chord-tone ratio, scale consistency and pitch entropy per set"),
                ("pitch_classes", "Mean pitch-class histograms"),
            ],
            tables=[
                (
                    "distance.csv",
                    distance,
                    f"Distance to the real melodies ({settings.draws} draws per item; means over items; distance: "
                    "mean over measures of |set - real| / spread; degenerate: silent, one pitch, a note held >= 2 bars)",
                ),
                ("differences.csv", differences, "Set - real per measure, mean over items with a 95 % CI"),
                ("table.csv", table, "Table across sets (means over pieces; OA/KLD means over features)"),
                ("comparisons.csv", comparisons, "Per feature, against real music"),
                ("per_piece.csv", per_piece, "Per piece"),
            ],
            notes=[
                "Pieces are clips of the listening study's length; the low anchor is the real melody with its pitches shuffled."
            ],
        ),
    )
    return folder


def _spectral_notes() -> list[str]:
    return [
        "Spectra are Welch long-term averages of the melodies rendered alone (same tempo and instrument for all), "
        "averaged over items, normalised to sum to 1 above 20 Hz.",
        "js_divergence: Jensen-Shannon divergence in bits (0 = identical, 1 = disjoint).",
        f"foreign_energy_share: generated energy at frequencies more than {spectral.UNUSED_BELOW_DB:.0f} dB under the sample "
        "music's strongest bin (frequencies the sample music does not use); missing_energy_share is the reverse.",
    ]


def report(
    settings: Settings,
    *,
    variants: Sequence[str] | None = None,
    convergence_steps: Sequence[int] = CONVERGENCE_STEPS,
    structure_steps: int = STRUCTURE_STEPS,
    bidirectional_steps: Sequence[int] = BIDIRECTIONAL_STEPS,
) -> Path:
    """Every experiment, for the variants that have checkpoints; `<out>/index.html` links them all."""
    settings.out.mkdir(parents=True, exist_ok=True)
    done: list[tuple[str, str]] = []
    structure_variants = [v for v in (variants or STRUCTURE_VARIANTS) if v in STRUCTURE_VARIANTS]
    convergence(settings, steps=convergence_steps)
    done.append(("convergence", "Convergence (Figure 3)"))
    structures(
        settings, variants=structure_variants, steps=structure_steps, bidirectional_steps=bidirectional_steps
    )
    done.append(("structures", "Network structures (Figure 4)"))
    spectrograms(settings, steps=structure_steps)
    done.append(("spectrograms", "Spectrograms (Figure 5)"))
    # After the spectral experiments, which may have trained checkpoints into <out>/checkpoints.
    available = variants_with_checkpoints(variants or SYMBOLIC_VARIANTS, settings)
    settings.log(f"variants with checkpoints: {', '.join(available) or 'none'}")
    if "proposed" in available:
        melody(settings)
        done.append(("melody", "Melody contour and key (Figure 6)"))
    symbolic_metrics(settings, variants=available)
    done.append(("symbolic", "Symbolic metrics"))
    table = pd.read_csv(settings.out / "symbolic" / "table.csv", index_col=0)
    (settings.out / "settings.json").write_text(
        json.dumps(
            {f.name: getattr(settings, f.name) for f in fields(settings) if f.name not in ("log", "cache")},
            indent=2,
            default=str,
        )
    )
    write_page(
        settings.out,
        Page(
            title="docbgm objective evaluation",
            intro="The paper's Figures 3-6 regenerated on our models, and the symbolic metrics across models.",
            tables=[("table.csv", table, "Table across models, real music and the low anchor")],
            links=[(f"{name}/index.html", title) for name, title in done],
        ),
    )
    return settings.out
