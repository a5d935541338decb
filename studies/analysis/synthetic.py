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
from .design_frames import MUSHRA_COLUMNS, PAIRWISE_COLUMNS
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


# MUSHRA: systems between a hidden reference near the top of the 0-100 scale and a low anchor.
MUSHRA_LIKE = {
    "proposed": ("system", 72.0),
    "vded": ("system", 58.0),
    "bilstm": ("system", 45.0),
    "real": ("reference", 97.0),
    "anchor": ("low_anchor", 20.0),
}


@dataclass
class MushraPanel:
    """What to plant in a MUSHRA panel: each listener scores every condition of `items` pages on
    each scale; a score is the condition's true mean plus listener, item and noise offsets,
    rounded and clipped to 0-100."""

    listeners: int = 20
    conditions: dict[str, tuple[str, float]] = field(default_factory=lambda: dict(MUSHRA_LIKE))
    items: int = 6
    scales: tuple[str, ...] = ("quality",)
    listener_sd: float = 6.0
    item_sd: float = 4.0
    noise_sd: float = 8.0
    reference_sd: float = 2.0  # the hidden reference is recognised: its scores barely move
    reference_low: tuple[int, ...] = ()  # listeners who score the hidden reference like a system (~65)
    anchor_high: tuple[int, ...] = ()  # listeners who score the anchor above 90
    missing_fraction: float = 0.0  # share of pages dropped at random
    seed: int = 0


def synthetic_mushra(panel: MushraPanel) -> pd.DataFrame:
    """Draw a MUSHRA frame (design_frames.MUSHRA_COLUMNS) for `panel`."""
    rng = np.random.default_rng(panel.seed)
    names = list(panel.conditions)
    roles = {c: panel.conditions[c][0] for c in names}
    true = np.array([panel.conditions[c][1] for c in names])
    listener_offset = rng.normal(0, panel.listener_sd, panel.listeners)
    item_offset = rng.normal(0, panel.item_sd, panel.items)
    rows = []
    for lis in range(panel.listeners):
        for item in range(panel.items):
            if rng.random() < panel.missing_fraction:
                continue
            for scale in panel.scales:
                for k, condition in enumerate(names):
                    if roles[condition] == "reference":
                        latent = true[k] + rng.normal(0, panel.reference_sd)
                        if lis in panel.reference_low:
                            latent = 65 + rng.normal(0, panel.noise_sd)
                    else:
                        latent = (
                            true[k] + listener_offset[lis] + item_offset[item] + rng.normal(0, panel.noise_sd)
                        )
                        if lis in panel.anchor_high and roles[condition] in ("low_anchor", "anchor"):
                            latent = 95 + rng.normal(0, 2)
                    rows.append(
                        {
                            "participant": f"p{lis:05d}",
                            "item": f"item{item:02d}",
                            "condition": condition,
                            "role": roles[condition],
                            "scale": scale,
                            "score": int(np.clip(np.rint(latent), 0, 100)),
                        }
                    )
    return pd.DataFrame(rows, columns=list(MUSHRA_COLUMNS))


# Pairwise: Bradley-Terry log-strengths (natural log); exp(1.0 - 0.0) = 2.7 to 1 odds.
PAIRWISE_LIKE = {"proposed": 1.0, "vded": 0.3, "ec2vae": 0.0, "bilstm": -0.4, "real": 1.3}


@dataclass
class PairwisePanel:
    """What to plant in a pairwise panel: each listener hears every unordered pair of conditions
    `rounds` times on items in rotation, sides counterbalanced (each pair's first side random,
    then alternating); P(left clip chosen) = 1 / (1 + exp(-(s_left - s_right + left_bias)))."""

    listeners: int = 30
    strengths: dict[str, float] = field(default_factory=lambda: dict(PAIRWISE_LIKE))
    roles: dict[str, str] = field(default_factory=lambda: {"real": "reference"})
    rounds: int = 1
    items: int = 10
    questions: tuple[str, ...] = ("preference",)
    left_bias: float = 0.0  # log-odds of choosing the left clip, added to the strengths' difference
    left_only: tuple[int, ...] = ()  # listeners who always choose the left clip
    seed: int = 0


def synthetic_pairwise(panel: PairwisePanel) -> pd.DataFrame:
    """Draw a pairwise frame (design_frames.PAIRWISE_COLUMNS) for `panel`."""
    rng = np.random.default_rng(panel.seed)
    names = list(panel.strengths)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    rows = []
    for lis in range(panel.listeners):
        for r in range(panel.rounds):
            for p, (a, b) in enumerate(pairs):
                left, right = (a, b) if (lis + p + r) % 2 == 0 else (b, a)
                item = f"item{(lis + p + r * len(pairs)) % panel.items:02d}"
                for question in panel.questions:
                    logit = panel.strengths[left] - panel.strengths[right] + panel.left_bias
                    chose_left = lis in panel.left_only or rng.random() < 1 / (1 + np.exp(-logit))
                    rows.append(
                        {
                            "participant": f"p{lis:05d}",
                            "item": item,
                            "question": question,
                            "left": left,
                            "right": right,
                            "winner": left if chose_left else right,
                        }
                    )
    return pd.DataFrame(rows, columns=list(PAIRWISE_COLUMNS))


def pairwise_roles(panel: PairwisePanel) -> dict[str, str]:
    return {c: panel.roles.get(c, "system") for c in panel.strengths}
