"""Build the long-format ratings frame (see frame.COLUMNS) of a study from the database."""

from __future__ import annotations

import pandas as pd

from studies.models import SCALES, Participant, Rating, Study

from .config import AnalysisConfig
from .frame import COLUMNS, empty_frame


def ratings_frame(study: Study) -> pd.DataFrame:
    """One row per participant x rated trial x scale, practice trials excluded.

    Participants appear under their pseudonym (`P0042`), never their token or Prolific id. Every
    participant with ratings is included, whatever their status: screening decides who counts.
    A clip counts as fully played when the player reported its end (`Trial.ended_at`).
    """
    rows = (
        Rating.objects.filter(trial__participant__study=study, trial__is_practice=False)
        .order_by("trial__participant_id", "trial__group", "trial__position")
        .values_list(
            "trial__participant_id",
            "trial__condition__name",
            "trial__condition__role",
            "trial__stimulus__item_key",
            "trial__stimulus__audio_sha256",
            "trial__group",
            "trial__position",
            "listen_time_s",
            "plays",
            "trial__ended_at",
            "trial__participant__headphone_passed",
            "submitted_at",
            *SCALES,
        )
    )
    trials = pd.DataFrame.from_records(
        list(rows),
        columns=[
            "participant_id",
            "condition",
            "role",
            "item",
            "stimulus_sha256",
            "group",
            "position",
            "listen_time_s",
            "plays",
            "ended_at",
            "headphone_passed",
            "rated_at",
            *SCALES,
        ],
    )
    if trials.empty:
        return empty_frame()
    trials["participant"] = trials["participant_id"].map(lambda pk: f"P{pk:04d}")
    trials["fully_played"] = trials["ended_at"].notna()
    trials["headphone_passed"] = (
        trials["headphone_passed"].astype(object).where(trials["headphone_passed"].notna(), None)
    )
    long = trials.melt(
        id_vars=[c for c in trials.columns if c not in SCALES],
        value_vars=list(SCALES),
        var_name="scale",
        value_name="rating",
    )
    long["scale"] = pd.Categorical(long["scale"], categories=list(SCALES), ordered=True)
    long = long.sort_values(["participant", "group", "position", "scale"]).reset_index(drop=True)
    long["scale"] = long["scale"].astype(str)
    return long.loc[:, list(COLUMNS)]


def participants_frame(study: Study) -> pd.DataFrame:
    """One row per participant who joined, under the same pseudonym as in the ratings frame:
    status (studies.models.Participant.Status), volume_checked, headphone_passed. For the flow."""
    rows = Participant.objects.filter(study=study).values_list(
        "pk", "status", "volume_checked", "headphone_passed"
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=["pk", "status", "volume_checked", "headphone_passed"]
    )
    frame.insert(0, "participant", frame["pk"].map(lambda pk: f"P{pk:04d}"))
    return frame.drop(columns="pk")


def study_conditions(study: Study) -> list[str]:
    """The study's conditions in its own order (the order they were created in)."""
    return list(study.conditions.order_by("id").values_list("name", flat=True))


def study_config(study: Study, overrides: dict | None = None) -> AnalysisConfig:
    """The analysis settings of a study: defaults, then the study's stored `analysis_options`
    (checked by study_create and the admin), then explicit overrides (command line)."""
    options = dict(study.analysis_options or {})
    options.update(overrides or {})
    return AnalysisConfig.from_options(options)
