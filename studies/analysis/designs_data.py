"""Build the MUSHRA and pairwise frames (design_frames.py) of a study from the database.

As for ratings (data.py): practice pages are left out, participants appear under their pseudonym
(`P0042`, never a token or Prolific id), and every participant with answers is included whatever
their status; screening decides who counts.
"""

from __future__ import annotations

import pandas as pd

from studies.models import MushraScore, PageClip, PairwiseChoice, Study

from .design_frames import (
    MUSHRA_COLUMNS,
    PAIRWISE_COLUMNS,
    empty_mushra_frame,
    empty_pairwise_frame,
)


def _pseudonym(pk: int) -> str:
    return f"P{pk:04d}"


def mushra_frame(study: Study) -> pd.DataFrame:
    """One row per MUSHRA score of a non-practice page: participant, item, condition, role, scale, score."""
    rows = (
        MushraScore.objects.filter(
            page_clip__page__participant__study=study, page_clip__page__is_practice=False
        )
        .order_by("page_clip__page__participant_id", "page_clip__page__position", "page_clip__slot", "scale")
        .values_list(
            "page_clip__page__participant_id",
            "page_clip__page__item_key",
            "page_clip__condition__name",
            "page_clip__condition__role",
            "scale",
            "score",
        )
    )
    frame = pd.DataFrame.from_records(list(rows), columns=list(MUSHRA_COLUMNS))
    if frame.empty:
        return empty_mushra_frame()
    frame["participant"] = frame["participant"].map(_pseudonym)
    return frame


def pairwise_frame(study: Study) -> pd.DataFrame:
    """One row per choice on a non-practice page: participant, item, question, left (slot 0),
    right (slot 1), winner (the chosen clip's condition)."""
    choices = (
        PairwiseChoice.objects.filter(page__participant__study=study, page__is_practice=False)
        .order_by("page__participant_id", "page__position", "question")
        .values_list(
            "page_id", "page__participant_id", "page__item_key", "question", "chosen__condition__name"
        )
    )
    frame = pd.DataFrame.from_records(
        list(choices), columns=["page", "participant", "item", "question", "winner"]
    )
    if frame.empty:
        return empty_pairwise_frame()
    clips = PageClip.objects.filter(page__participant__study=study, page__is_practice=False).values_list(
        "page_id", "slot", "condition__name"
    )
    sides = pd.DataFrame.from_records(list(clips), columns=["page", "slot", "condition"])
    sides = sides.pivot(index="page", columns="slot", values="condition")
    frame["left"] = frame["page"].map(sides[0])
    frame["right"] = frame["page"].map(sides[1])
    frame["participant"] = frame["participant"].map(_pseudonym)
    return frame.loc[:, list(PAIRWISE_COLUMNS)]


def condition_roles(study: Study) -> dict[str, str]:
    return dict(study.conditions.order_by("id").values_list("name", "role"))
