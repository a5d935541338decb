"""Rendering speed (seconds of audio per wall second): render_midi vs the FluidSynth CLI, and set build times.

    .venv/bin/python benchmarks/bench_rendering.py [--repeats 3] [--sets proposed,real] [--items 15]

Both renderers get the same MIDI (a 24 s held-out-style item: melody + block chords at 80 bpm) and the
same soundfont (TimGM6mb.sf2) in the same run; the CLI is `fluidsynth -ni -F out.wav SOUNDFONT in.mid`.
The second part builds one K-item stimulus set per variant from scratch (sampling, rendering,
loudness, MP3 + FLAC, publishing) in a throw-away database and media folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_rendering(repeats: int) -> dict[str, float]:
    import numpy as np
    import soundfile as sf

    from generation.music.encoding import HOLD
    from generation.music.midi import melody_to_midi
    from generation.rendering import SAMPLE_RATE, TAIL_S, default_soundfont, render_midi, render_midi_cli

    rng = np.random.default_rng(0)
    steps = 128  # 8 bars of 4/4 in 16ths = 24 s at 80 bpm
    melody = np.full(steps, HOLD, dtype=np.int64)
    melody[::4] = rng.integers(60, 80, steps // 4)
    chords = np.repeat([0, 7, 21, 5] * 2, 16)
    midi = melody_to_midi(melody, chords, tempo_bpm=80.0, beats_per_bar=4, accompaniment="block")
    soundfont = default_soundfont()
    with tempfile.TemporaryDirectory() as folder:
        midi_path = Path(folder) / "item.mid"
        wav_path = Path(folder) / "cli.wav"
        midi.write(str(midi_path))
        render_midi(midi_path, soundfont=soundfont)  # warm the page cache for both
        ours, cli = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            audio = render_midi(midi_path, soundfont=soundfont)
            ours.append(audio.shape[0] / SAMPLE_RATE / (time.perf_counter() - start))
            start = time.perf_counter()
            render_midi_cli(midi_path, wav_path, soundfont=soundfont)
            elapsed = time.perf_counter() - start
            cli.append(sf.info(str(wav_path)).frames / SAMPLE_RATE / elapsed)
    result = {
        "audio_seconds_ours": audio.shape[0] / SAMPLE_RATE,
        "tail_s": TAIL_S,
        "render_midi_x_realtime": statistics.median(ours),
        "cli_x_realtime": statistics.median(cli),
    }
    result["ratio_render_midi_over_cli"] = result["render_midi_x_realtime"] / result["cli_x_realtime"]
    return result


def bench_sets(variants: list[str], items: int, corpus: str | None) -> dict[str, float]:
    """Seconds to build one `items`-clip set per variant, in a scratch database and media folder."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-sets-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch / 'db.sqlite3'}"
    os.environ["DOCBGM_MEDIA_ROOT"] = str(scratch / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docbgm_site.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from generation.management.commands.generate_stimuli import build_set

    call_command("migrate", verbosity=0)
    times = {}
    for variant in variants:
        start = time.perf_counter()
        stimulus_set = build_set(
            variant=variant,
            checkpoint=None,
            items=items,
            seconds=24.0,
            seed=0,
            temperature=1.0,
            corpus=corpus,
            soundfont="",
            progress=False,
        )
        if stimulus_set.status != "ready":
            raise SystemExit(f"{variant}: {stimulus_set.error}")
        times[variant] = time.perf_counter() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--sets", default="", help="comma-separated variants to time set builds for (e.g. real,proposed)"
    )
    parser.add_argument("--items", type=int, default=15)
    parser.add_argument("--corpus", default=None)
    args = parser.parse_args()
    rendering = bench_rendering(args.repeats)
    print(f"render_midi: {rendering['render_midi_x_realtime']:.1f} s of audio per wall second")
    print(f"fluidsynth CLI: {rendering['cli_x_realtime']:.1f} s of audio per wall second")
    print(f"ratio render_midi / CLI: {rendering['ratio_render_midi_over_cli']:.2f}")
    if args.sets:
        for variant, seconds in bench_sets(args.sets.split(","), args.items, args.corpus).items():
            print(
                f"{variant}: {args.items}-clip set built in {seconds:.1f} s ({seconds / args.items:.2f} s per clip)"
            )


if __name__ == "__main__":
    main()
