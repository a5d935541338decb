"""Seconds to analyse large panels: 1 000 and 10 000 participants x 15 trials x 3 scales.

Five conditions as in the paper (proposed, VD-ED, EC2-VAE, Bi-LSTM, real music) x 3 groups = 15
trials per listener, with planted flat, reversed and unfinished listeners and 3 % missing trials.
Times each stage of `analyse` (default config: the robustness models run on a seeded subsample of
`model_max_listeners`) and the zip export (tables, XLSX, figures, report) separately, wall clock
and CPU.
Run: .venv/bin/python benchmarks/bench_analysis.py [listeners ...]   (default: 1000 10000)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docbgm_site.settings")

import django  # noqa: E402

django.setup()

from studies.analysis import AnalysisConfig, analyse  # noqa: E402
from studies.analysis.precision import precision  # noqa: E402
from studies.analysis.reliability import agreement  # noqa: E402
from studies.analysis.report import ReportMeta, build_zip  # noqa: E402
from studies.analysis.screening import screen  # noqa: E402
from studies.analysis.significance import significance  # noqa: E402
from studies.analysis.summary import headline, listener_cells, summarise  # noqa: E402
from studies.analysis.synthetic import PAPER_LIKE, Panel, synthetic_ratings  # noqa: E402

# The paper's five conditions with synthetic.PAPER_LIKE's scores (its low anchor is not in the paper).
PAPER_DESIGN = {name: condition for name, condition in PAPER_LIKE.items() if condition[0] != "low_anchor"}


def timed(label: str, fn):
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    print(f"  {label:<38} {time.perf_counter() - start:7.2f} s   (CPU {time.process_time() - cpu:6.2f} s)")
    return out


def main(listeners: int = 10_000) -> None:
    panel = Panel(
        listeners=listeners,
        conditions=PAPER_DESIGN,
        flat=tuple(range(0, listeners, 97)),
        reversed=tuple(range(1, listeners, 101)),
        unfinished=tuple(range(2, listeners, 89)),
        missing_fraction=0.03,
        seed=0,
    )
    frame = timed("draw synthetic panel", lambda: synthetic_ratings(panel))
    print(f"{listeners} listeners, {len(frame)} ratings")
    config = AnalysisConfig()
    print("stages:")
    listeners_table = timed("screening", lambda: screen(frame, config))
    kept = frame[frame["participant"].isin(listeners_table.loc[~listeners_table["excluded"], "participant"])]
    cells = timed("listener means, wide tables (once)", lambda: listener_cells(kept, config))
    summary = timed("summary (t + one bootstrap matrix)", lambda: summarise(kept, config, cells=cells))
    timed("headline figures (same matrix)", lambda: headline(kept, summary, config, cells=cells))
    timed("Friedman + Wilcoxon-Holm", lambda: significance(kept, config, models=False, cells=cells))
    timed("tests + mixed and ordinal models", lambda: significance(kept, config, models=True, cells=cells))
    timed("Krippendorff's alpha", lambda: agreement(kept))
    timed("precision", lambda: precision(kept, config, cells=cells))
    order = list(PAPER_DESIGN)
    result = timed(
        "analyse(), end to end (both variants)", lambda: analyse(frame, config=config, study_order=order)
    )
    print(f"  excluded {int(result.listeners['excluded'].sum())} listeners; notes: {result.notes}")
    meta = ReportMeta(title="benchmark panel", slug="bench")
    data = timed("zip export (CSV, XLSX, figures, report)", lambda: build_zip(result, meta))
    print(f"  zip: {len(data) / 1e6:.1f} MB")


if __name__ == "__main__":
    for size in [int(a) for a in sys.argv[1:]] or [1_000, 10_000]:
        main(size)
