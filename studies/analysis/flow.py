"""Participant flow, CONSORT style: who joined, who left at which step, who was excluded and why.

The stages come from the participants' session states (studies.models.Participant: consented ->
screening -> rating -> completed, or screened_out at the headphone check, or abandoned after a
long pause) and from the analysis' own screening. Without a participants table (a ratings frame
only, e.g. a synthetic panel) the flow starts at the listeners with ratings and says so.
"""

from __future__ import annotations

import pandas as pd

from .screening import REASONS

PARTICIPANT_COLUMNS = ("participant", "status", "volume_checked", "headphone_passed")
FLOW_COLUMNS = ["stage", "listeners", "detail"]
CONDITION_FLOW_COLUMNS = ["condition", "role", "with_ratings", "excluded", "analysed", "ratings_analysed"]
LIVE = ("consented", "screening", "rating")
RATED = "rated at least one clip"  # the stage of listeners with answers, in the ratings design


def participant_flow(
    participants: pd.DataFrame | None,
    ratings: pd.DataFrame,
    listeners: pd.DataFrame,
    *,
    reasons: dict[str, str] = REASONS,
    answered: str = RATED,
) -> pd.DataFrame:
    """The flow table: one row per stage, in order, with the listeners at or leaving that stage.

    Args:
        participants: one row per participant who joined (PARTICIPANT_COLUMNS), or None.
        ratings: the validated answers (ratings, MUSHRA scores or pairwise choices): every
            listener with at least one answer, in its `participant` column.
        listeners: screening's listener table (excluded, reasons).
        reasons: the screening's reason codes and their words (the ratings screening's by default).
        answered: the name of the stage of listeners with at least one answer.

    Stages whose `stage` starts with "-" leave the flow (the side boxes of a CONSORT diagram).
    """
    rated = set(ratings["participant"])
    rows = []
    if participants is not None and len(participants):
        p = participants.assign(rated=participants["participant"].isin(rated))
        status = p["status"]
        rows.append(("joined (consented)", len(p), "every volunteer who opened the link and consented"))
        before_volume = (~p["volume_checked"].astype(bool)) & ~p["rated"]
        left_early = before_volume & status.isin(["abandoned", *LIVE])
        rows.append(("- left before the volume check", int(left_early.sum()), _split(p[left_early])))
        headphones = status.eq("screened_out") & ~p["rated"]
        rows.append(("- screened out at the headphone check", int(headphones.sum()), "failed the check"))
        gone = status.eq("abandoned") & ~before_volume & ~p["rated"]
        gone_stage, waiting_stage = (
            ("- abandoned before rating a clip", "- still in progress, no rating yet")
            if answered == RATED
            else ("- abandoned before a first answer", "- still in progress, no answer yet")
        )
        rows.append((gone_stage, int(gone.sum()), "session expired after a pause"))
        waiting = status.isin(LIVE) & ~before_volume & ~p["rated"]
        rows.append((waiting_stage, int(waiting.sum()), ""))
        with_ratings = p[p["rated"]]
        counts = with_ratings["status"].value_counts()
        detail = ", ".join(
            f"{counts.get(s, 0)} {label}"
            for s, label in (("completed", "completed"), ("abandoned", "abandoned part-way"))
        )
        in_progress = int(with_ratings["status"].isin(LIVE).sum())
        if in_progress:
            detail += f", {in_progress} still rating"
        rows.append((answered, len(with_ratings), detail))
    else:
        rows.append(
            (
                answered,
                len(rated),
                "participants' sessions not available: answers only"
                if answered != RATED
                else "participants' sessions not available: ratings only",
            )
        )
    excluded = listeners[listeners["excluded"]] if len(listeners) else listeners
    counts = excluded["reasons"].str.split(";").explode().value_counts() if len(excluded) else pd.Series()
    detail = "; ".join(f"{reasons[code]}: {counts[code]}" for code in reasons if code in counts)
    several = int((excluded["reasons"].str.count(";") > 0).sum()) if len(excluded) else 0
    if several:
        detail += f" ({several} for more than one reason)"
    rows.append(("- excluded by screening", len(excluded), detail))
    rows.append(("analysed", len(listeners) - len(excluded), "the primary analysis (after screening)"))
    return pd.DataFrame(rows, columns=FLOW_COLUMNS)


def condition_flow(ratings: pd.DataFrame, listeners: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per condition: listeners with ratings of it, excluded among them, analysed, ratings analysed."""
    excluded = set(listeners.loc[listeners["excluded"], "participant"]) if len(listeners) else set()
    roles = ratings.drop_duplicates("condition").set_index("condition")["role"]
    marked = ratings[["condition", "participant"]].assign(out=ratings["participant"].isin(excluded))
    who = (
        marked.drop_duplicates(["condition", "participant"]).groupby("condition")["out"].agg(["size", "sum"])
    )
    kept = marked[~marked["out"]].groupby("condition").size()
    rows = [
        {
            "condition": condition,
            "role": roles[condition],
            "with_ratings": int(who.loc[condition, "size"]),
            "excluded": int(who.loc[condition, "sum"]),
            "analysed": int(who.loc[condition, "size"] - who.loc[condition, "sum"]),
            "ratings_analysed": int(kept.get(condition, 0)),
        }
        for condition in order
    ]
    return pd.DataFrame(rows, columns=CONDITION_FLOW_COLUMNS)


def _split(rows: pd.DataFrame) -> str:
    idle = int(rows["status"].eq("abandoned").sum())
    return f"{idle} session(s) expired, {len(rows) - idle} still open"
