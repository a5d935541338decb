"""Reads of the generation app: checkpoints, stimulus sets and what the researcher's pages show of them."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Min, QuerySet

from generation.models import Checkpoint, Stimulus, StimulusSet


def checkpoint_list() -> QuerySet[Checkpoint]:
    return Checkpoint.objects.select_related("variant", "uploaded_by").annotate(sets=Count("stimulus_sets"))


def stimulus_set_list() -> QuerySet[StimulusSet]:
    return StimulusSet.objects.select_related("variant", "checkpoint").annotate(clips=Count("stimuli"))


def stimulus_set_stimuli(*, stimulus_set: StimulusSet) -> QuerySet[Stimulus]:
    return stimulus_set.stimuli.order_by("position")


def stimulus_set_status(*, stimulus_set: StimulusSet) -> dict[str, Any]:
    """What the set's page polls: status, progress k of K, the failure reason, and the clips once ready."""
    data: dict[str, Any] = {
        "id": stimulus_set.pk,
        "name": stimulus_set.name,
        "version": stimulus_set.version,
        "source": stimulus_set.source,
        "status": stimulus_set.status,
        "progress_done": stimulus_set.progress_done,
        "progress_total": stimulus_set.progress_total,
        "error": stimulus_set.error,
        "attempts": stimulus_set.attempts,
        "finished_at": stimulus_set.finished_at.isoformat() if stimulus_set.finished_at else None,
        "stimuli": [],
    }
    if stimulus_set.status == StimulusSet.Status.READY:
        data["stimuli"] = [
            {
                "id": s.pk,
                "position": s.position,
                "item": s.item_key,
                "duration_s": s.duration_s,
                "loudness_lufs": s.loudness_lufs,
                "audio_sha256": s.audio_sha256,
                "seed": s.seed,
            }
            for s in stimulus_set_stimuli(stimulus_set=stimulus_set)
        ]
    return data


def loudness_spread(*, stimulus_sets) -> tuple[float, float, float]:
    """(min, max, max - min) integrated loudness in LUFS over every clip of the given sets."""
    agg = Stimulus.objects.filter(stimulus_set__in=stimulus_sets).aggregate(
        low=Min("loudness_lufs"), high=Max("loudness_lufs")
    )
    if agg["low"] is None:
        return (float("nan"),) * 3
    return agg["low"], agg["high"], agg["high"] - agg["low"]
