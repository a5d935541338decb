"""The long-format ratings frame every analysis starts from: one row per participant x trial x scale."""

from __future__ import annotations

import pandas as pd

from .config import ROLES, SCALES

COLUMNS = (
    "participant",  # pseudonymous id, never a token or a Prolific id
    "condition",  # internal condition name
    "role",  # "system", "reference" (real music) or "low_anchor"
    "item",  # the chord progression / held-out piece the clip was made from
    "stimulus_sha256",
    "group",
    "position",
    "scale",
    "rating",  # 1-5
    "listen_time_s",
    "plays",
    "fully_played",
    "headphone_passed",  # True / False / None (no check)
    "rated_at",
)


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS}).astype(
        {"rating": "int64", "group": "int64", "position": "int64", "plays": "int64", "listen_time_s": float}
    )


def validate_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Check the columns and values of a ratings frame and return a clean copy.

    Raises:
        ValueError: naming the missing columns or the offending values.
    """
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"ratings frame lacks columns: {', '.join(missing)}")
    out = frame.loc[:, list(COLUMNS)].copy()
    bad_scales = sorted(set(out["scale"]) - set(SCALES))
    if bad_scales:
        raise ValueError(f"unknown scales {bad_scales}; expected {list(SCALES)}")
    bad_roles = sorted(set(out["role"]) - set(ROLES))
    if bad_roles:
        raise ValueError(f"unknown roles {bad_roles}; expected {list(ROLES)}")
    if len(out):
        ratings = pd.to_numeric(out["rating"], errors="coerce")
        if ratings.isna().any() or not ratings.between(1, 5).all() or (ratings % 1 != 0).any():
            raise ValueError("ratings must be whole numbers from 1 to 5")
        out["rating"] = ratings.astype("int64")
    per_condition = out.groupby("condition")["role"].nunique()
    if (per_condition > 1).any():
        raise ValueError(
            f"conditions with more than one role: {list(per_condition[per_condition > 1].index)}"
        )
    out["participant"] = out["participant"].astype(str)
    out["condition"] = out["condition"].astype(str)
    out["item"] = out["item"].astype(str)
    out["fully_played"] = out["fully_played"].astype(bool)
    return out.reset_index(drop=True)


def condition_order(frame: pd.DataFrame, study_order: list[str] | None = None) -> list[str]:
    """Systems first, then real music, then the low anchor: the order of the paper's Figure 7.

    Within a role, conditions keep `study_order` (the study's own order, e.g. the proposed model
    first); conditions it does not list, or all of them without it, follow by name.
    """
    roles = frame.drop_duplicates("condition").set_index("condition")["role"]
    rank = {"system": 0, "reference": 1, "low_anchor": 2}
    position = {c: i for i, c in enumerate(study_order or [])}
    return sorted(roles.index, key=lambda c: (rank[roles[c]], position.get(c, len(position)), c))


def scales_present(frame: pd.DataFrame) -> list[str]:
    present = set(frame["scale"].unique())
    return [s for s in SCALES if s in present]
