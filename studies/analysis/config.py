"""The knobs of one analysis run; a study may override any of them (see `AnalysisConfig.from_options`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

SCALES = ("naturalness", "creativity", "musicality")
ROLES = ("system", "reference", "low_anchor")


@dataclass(frozen=True)
class AnalysisConfig:
    """Thresholds and settings; every default says where it comes from."""

    confidence: float = 0.95  # ITU-T P.800.2 asks for the MOS with its 95 % confidence interval
    bootstrap_resamples: int = 2000  # percentile intervals settle to ~0.01 points at 2000 resamples
    seed: int = 0  # fixed, so the same ratings always give the same bootstrap intervals
    alpha: float = 0.05  # family-wise error rate of the Holm-corrected pairwise tests
    power: float = 0.8  # the conventional power for "the smallest difference this panel detects"
    target_ci_width: float = 0.5  # full width (points) of the 95 % CI the panel should reach: +-0.25
    # Listener screening (ITU-T P.808 criteria, ITU-R BS.1534 post-screening).
    require_headphone_check: bool = True  # exclude a listener whose headphone check failed (None = no check)
    max_unfinished_fraction: float = 0.0  # P.808 rejects a session unless every clip was heard to the end
    # Variance of a listener's ratings on one scale below this = straight-lining (14 of 15 clips
    # rated the same gives 0.06); ours, per scale, like the P.808 toolkit's rating-variance check.
    min_rating_variance: float = 0.1
    flat_min_ratings: int = 5  # judged on a scale from this many ratings: one group of 5 clips
    reference_below_anchor_margin: float = 0.0  # exclude when mean(real music) < mean(low anchor) - margin
    # Pearson r with the leave-one-out panel means; 0.7 is the P.808 toolkit's bar for a quality
    # bonus (an exclusion nowhere in P.808): ours as an exclusion criterion.
    min_panel_correlation: float = 0.7
    # Correlating with a panel whose conditions do not differ measures noise: the bar is -1 (no
    # exclusion) while the leave-one-out panel means spread (SD, points) at most min_panel_spread,
    # rises linearly, and is min_panel_correlation from full_panel_spread on (no cliff).
    min_panel_spread: float = 0.25
    full_panel_spread: float = 0.5
    # Above this many listeners the mixed and ordinal models are fitted on a seeded random
    # subsample, stated in the tests table: ample for a robustness check, and it bounds memory.
    model_max_listeners: int = 1000
    fit_models: bool = True  # the live summary skips them; the export fits them

    @classmethod
    def check_options(cls, options: Any) -> dict[str, Any]:
        """Validate a study's stored options: a dict of known settings, each of the right type and
        in range. Returns them with every number for a float setting as a float (0 -> 0.0).

        Raises:
            ValueError: every problem found, in one message a researcher can act on.
        """
        if not isinstance(options, dict):
            raise ValueError("Analysis options must be a JSON object of setting: value.")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        problems, checked = [], {}
        for name, value in options.items():
            if name not in fields:
                problems.append(f"unknown setting {name!r} (known: {', '.join(fields)})")
                continue
            kind = fields[name].type
            if kind == "bool":
                ok = isinstance(value, bool)
            elif kind == "int":
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:  # float: an int is fine, a bool or NaN/inf is not
                number = _finite_float(value)
                ok, value = number is not None, value if number is None else number
            if not ok:
                problems.append(f"{name} must be {_KIND_NAMES[kind]}, not {value!r}")
                continue
            if name in OPTION_RANGES:
                test, allowed = OPTION_RANGES[name]
                if not test(value):
                    problems.append(f"{name} must be {allowed}, not {value!r}")
                    continue
            checked[name] = value
        if problems:
            raise ValueError("Invalid analysis options: " + "; ".join(problems) + ".")
        return checked

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> AnalysisConfig:
        """Build a config from a study's stored options, ignoring keys that are not analysis settings."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (options or {}).items() if k in names})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _finite_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


_KIND_NAMES = {"bool": "true or false", "int": "a whole number", "float": "a number"}

# What a study may set each option to (check, wording for the error). Ratings run 1-5, so point
# differences and SDs lie within 4; the resample and listener caps keep a web request's work bounded.
OPTION_RANGES = {
    "confidence": (lambda v: 0 < v < 1, "between 0 and 1 (exclusive)"),
    "bootstrap_resamples": (lambda v: 100 <= v <= 20_000, "from 100 to 20000"),
    "seed": (lambda v: 0 <= v < 2**32, "from 0 to 2**32 - 1"),
    "alpha": (lambda v: 0 < v < 1, "between 0 and 1 (exclusive)"),
    "power": (lambda v: 0 < v < 1, "between 0 and 1 (exclusive)"),
    "target_ci_width": (lambda v: 0 < v <= 4, "above 0 and at most 4 points"),
    "max_unfinished_fraction": (lambda v: 0 <= v <= 1, "from 0 to 1"),
    "min_rating_variance": (lambda v: 0 <= v <= 4, "from 0 to 4"),
    "flat_min_ratings": (lambda v: 2 <= v <= 1000, "from 2 to 1000"),
    "reference_below_anchor_margin": (lambda v: -4 <= v <= 4, "from -4 to 4 points"),
    "min_panel_correlation": (lambda v: -1 <= v <= 1, "from -1 to 1"),
    "min_panel_spread": (lambda v: 0 <= v <= 4, "from 0 to 4 points"),
    "full_panel_spread": (lambda v: 0 <= v <= 4, "from 0 to 4 points"),
    "model_max_listeners": (lambda v: 10 <= v <= 100_000, "from 10 to 100000"),
}
