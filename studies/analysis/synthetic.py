"""Synthetic panels with planted effects, for tests, the benchmark and the demo report.

Each listener rates G groups of one clip per condition on the three scales; the rating is the
condition's true score plus a listener offset, an item offset and noise, rounded and clipped to
1-5. Planted misbehaviour (flat responders, reversed listeners, unfinished clips, failed
headphone checks, missing trials) is switched on per listener.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from .config import SCALES
from .frame import COLUMNS

# The paper's Figure 7 in spirit: the proposed model near real music, VD-ED second best.
PAPER_LIKE = {
    "proposed": ("system", 4.3),
    "vded": ("system", 3.5),
    "ec2vae": ("system", 3.2),
    "bilstm": ("system", 3.0),
    "real": ("reference", 4.6),
    "anchor": ("low_anchor", 1.6),
}


@dataclass
class Panel:
    """What to plant. `conditions` maps name -> (role, true mean score on every scale)."""

    listeners: int = 20
    conditions: dict[str, tuple[str, float]] = field(default_factory=lambda: dict(PAPER_LIKE))
    groups: int = 3  # groups of one clip per condition, as in the paper's 3 x 5 design
    items: int | None = None  # distinct progressions; default = groups x conditions
    listener_sd: float = 0.3  # spread of listeners' personal offsets
    item_sd: float = 0.15
    noise_sd: float = 0.6
    flat: tuple[int, ...] = ()  # listener indices who always answer 3
    reversed: tuple[int, ...] = ()  # listener indices who rate 6 - (what they hear)
    unfinished: tuple[int, ...] = ()  # listener indices who skip to the next clip early
    headphone_failed: tuple[int, ...] = ()
    missing_fraction: float = 0.0  # share of trials dropped at random (abandoned sessions, lost rows)
    seed: int = 0


def synthetic_ratings(panel: Panel) -> pd.DataFrame:
    """Draw a long-format ratings frame (see `frame.COLUMNS`) for `panel`."""
    rng = np.random.default_rng(panel.seed)
    names = list(panel.conditions)
    n_cond, n_lis, n_grp = len(names), panel.listeners, panel.groups
    n_items = panel.items or n_grp * n_cond
    true = np.array([panel.conditions[c][1] for c in names])
    roles = np.array([panel.conditions[c][0] for c in names])
    # Trials: listener x group x condition, each clip drawn from a balanced item rotation.
    lis = np.repeat(np.arange(n_lis), n_grp * n_cond)
    grp = np.tile(np.repeat(np.arange(n_grp), n_cond), n_lis)
    cond = np.tile(np.arange(n_cond), n_lis * n_grp)
    item = (lis + grp * n_cond + cond) % n_items
    position = np.concatenate([rng.permutation(n_cond) for _ in range(n_lis * n_grp)])
    n_trials = lis.size
    keep = rng.random(n_trials) >= panel.missing_fraction
    listener_offset = rng.normal(0, panel.listener_sd, n_lis)
    item_offset = rng.normal(0, panel.item_sd, n_items)
    frames = []
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for scale in SCALES:
        latent = (
            true[cond] + listener_offset[lis] + item_offset[item] + rng.normal(0, panel.noise_sd, n_trials)
        )
        rating = np.clip(np.rint(latent), 1, 5).astype(np.int64)
        rev = np.isin(lis, panel.reversed)
        rating[rev] = 6 - rating[rev]
        rating[np.isin(lis, panel.flat)] = 3
        frames.append(pd.DataFrame({"scale": scale, "rating": rating, "_t": np.arange(n_trials)}))
    unfinished = np.isin(lis, panel.unfinished)
    clip_s = 20.0
    trials = pd.DataFrame(
        {
            "participant": [f"p{i:05d}" for i in lis],
            "condition": np.array(names)[cond],
            "role": roles[cond],
            "item": [f"item{i:02d}" for i in item],
            "stimulus_sha256": [f"{c:02d}{i:062d}" for c, i in zip(cond, item, strict=True)],
            "group": grp + 1,
            "position": grp * n_cond + position + 1,
            "listen_time_s": np.where(unfinished, 6.0, clip_s + rng.uniform(0, 4, n_trials)),
            "plays": np.where(unfinished, 1, 1 + (rng.random(n_trials) < 0.2)),
            "fully_played": ~unfinished,
            "headphone_passed": ~np.isin(lis, panel.headphone_failed),
            "rated_at": [
                start + timedelta(minutes=int(i) * 17, seconds=int(t) * 30)
                for i, t in zip(lis, grp * n_cond + position, strict=True)
            ],
        }
    )
    trials = trials[keep]
    ratings = pd.concat(frames, ignore_index=True)
    out = trials.merge(ratings, left_index=True, right_on="_t").drop(columns="_t")
    return out.loc[:, list(COLUMNS)].sort_values(["participant", "position", "scale"]).reset_index(drop=True)
