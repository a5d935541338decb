"""Seconds to analyse a large panel: 10 000 participants x 15 trials x 3 scales (450 000 ratings).

Five conditions as in the paper (proposed, VD-ED, EC2-VAE, Bi-LSTM, real music) x 3 groups = 15
trials per listener, with planted flat, reversed and unfinished listeners and 3 % missing trials.
Times each stage of `analyse` (default config: the robustness models run on a seeded subsample of
`model_max_listeners`) and the zip export (tables, XLSX, figures, report) separately.
Run: .venv/bin/python benchmarks/bench_analysis.py [listeners]
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
from studies.analysis.summary import summarise  # noqa: E402
from studies.analysis.synthetic import PAPER_LIKE, Panel, synthetic_ratings  # noqa: E402

# The paper's five conditions with synthetic.PAPER_LIKE's scores (its low anchor is not in the paper).
PAPER_DESIGN = {name: condition for name, condition in PAPER_LIKE.items() if condition[0] != "low_anchor"}


def timed(label: str, fn):
    start = time.perf_counter()
    out = fn()
    print(f"  {label:<34} {time.perf_counter() - start:7.2f} s")
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
    timed("summary (t + bootstrap CIs)", lambda: summarise(kept, config))
    timed("Friedman + Wilcoxon-Holm", lambda: significance(kept, config, models=False))
    timed("mixed + ordinal models (subsample)", lambda: significance(kept, config, models=True))
    timed("Krippendorff's alpha", lambda: agreement(kept))
    timed("precision", lambda: precision(kept, config))
    start = time.perf_counter()
    result = analyse(frame, config=config)
    total = time.perf_counter() - start
    print(f"analyse(), everything end to end:    {total:7.2f} s")
    print(f"excluded {int(result.listeners['excluded'].sum())} listeners; notes: {result.notes}")
    start = time.perf_counter()
    data = build_zip(result, ReportMeta(title="benchmark panel", slug="bench"))
    print(
        f"zip export (CSV, XLSX, figures, report): {time.perf_counter() - start:7.2f} s, {len(data) / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
