"""Agreement between listeners: Krippendorff's alpha (ordinal) per scale."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd

from .frame import scales_present

RELIABILITY_COLUMNS = ["scale", "alpha_ordinal", "listeners", "units", "pairable_units", "note"]


def agreement(frame: pd.DataFrame) -> pd.DataFrame:
    """Krippendorff's alpha per scale; units are the clips (condition x item), raters the listeners.

    A listener who met a clip twice contributes the rounded mean of the two ratings. Units rated
    by one listener only carry no information on agreement and are counted apart.
    """
    rows = []
    for scale in scales_present(frame):
        data = frame[frame["scale"] == scale]
        cells = data.groupby(["participant", "condition", "item"])["rating"].mean().round()
        cells = cells.unstack(["condition", "item"])
        values = cells.to_numpy(dtype=float)
        raters_per_unit = np.sum(~np.isnan(values), axis=0)
        row = {
            "scale": scale,
            "listeners": cells.shape[0],
            "units": cells.shape[1],
            "pairable_units": int(np.sum(raters_per_unit >= 2)),
            "note": "",
        }
        if row["pairable_units"] == 0 or len(np.unique(values[~np.isnan(values)])) < 2:
            rows.append(
                row | {"alpha_ordinal": np.nan, "note": "needs 2 raters on a clip and 2 distinct ratings"}
            )
            continue
        alpha = krippendorff.alpha(
            reliability_data=values, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5]
        )
        rows.append(row | {"alpha_ordinal": float(alpha)})
    return pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)
