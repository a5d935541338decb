"""The long-format frames of the MUSHRA and pairwise designs, and their checks.

Like the ratings frame (frame.py), each row is one answer of one pseudonymous participant;
`designs_data.py` builds them from the database, `synthetic.py` draws planted ones.
"""

from __future__ import annotations

import pandas as pd

MUSHRA_COLUMNS = (
    "participant",  # pseudonymous id (P0042), never a token or a Prolific id
    "item",  # the item (chord progression / piece) of the page
    "condition",  # internal condition name
    "role",  # Condition.role: "system", "reference", "low_anchor", ...
    "scale",  # the design's scale key, e.g. "quality"
    "score",  # 0-100
)
PAIRWISE_COLUMNS = (
    "participant",
    "item",
    "question",  # the design's question key, e.g. "preference"
    "left",  # condition played on the left (slot 0)
    "right",  # condition played on the right (slot 1)
    "winner",  # the condition chosen
)

ROLE_RANK = {"system": 0, "reference": 1}  # anchors and anything else last


def _missing(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame lacks columns: {', '.join(missing)}")


def empty_mushra_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in MUSHRA_COLUMNS}).astype({"score": "int64"})


def empty_pairwise_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in PAIRWISE_COLUMNS})


def validate_mushra_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Check a MUSHRA frame and return a clean copy (text ids, integer scores).

    Raises:
        ValueError: naming the missing columns or the offending values: scores that are not whole
            numbers from 0 to 100, a condition with two roles, or one listener scoring the same
            condition of the same item on the same scale twice.
    """
    _missing(frame, MUSHRA_COLUMNS, "MUSHRA")
    out = frame.loc[:, list(MUSHRA_COLUMNS)].copy()
    for column in ("participant", "item", "condition", "role", "scale"):
        out[column] = out[column].astype(str)
    if len(out):
        scores = pd.to_numeric(out["score"], errors="coerce")
        if scores.isna().any() or not scores.between(0, 100).all() or (scores % 1 != 0).any():
            raise ValueError("MUSHRA scores must be whole numbers from 0 to 100")
        out["score"] = scores.astype("int64")
    roles = out.groupby("condition")["role"].nunique()
    if (roles > 1).any():
        raise ValueError(f"conditions with more than one role: {sorted(roles[roles > 1].index)}")
    twice = out.duplicated(["participant", "item", "condition", "scale"])
    if twice.any():
        row = out[twice].iloc[0]
        raise ValueError(
            f"listener {row['participant']} scored {row['condition']} of item {row['item']} on "
            f"{row['scale']} more than once"
        )
    return out.reset_index(drop=True)


def validate_pairwise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Check a pairwise frame and return a clean copy.

    Raises:
        ValueError: the missing columns, a pair of a condition with itself, or a winner that is
            neither of the two clips.
    """
    _missing(frame, PAIRWISE_COLUMNS, "pairwise")
    out = frame.loc[:, list(PAIRWISE_COLUMNS)].astype(str)
    same = out["left"] == out["right"]
    if same.any():
        raise ValueError(f"a pair compares {out.loc[same, 'left'].iloc[0]} with itself")
    stray = ~((out["winner"] == out["left"]) | (out["winner"] == out["right"]))
    if stray.any():
        row = out[stray].iloc[0]
        raise ValueError(f"winner {row['winner']!r} is neither {row['left']!r} nor {row['right']!r}")
    return out.reset_index(drop=True)


def design_order(roles: dict[str, str], study_order: list[str] | None = None) -> list[str]:
    """Systems in the study's order (then by name), then the reference, then anchors and others."""
    position = {c: i for i, c in enumerate(study_order or [])}
    return sorted(roles, key=lambda c: (ROLE_RANK.get(roles[c], 2), position.get(c, len(position)), c))
