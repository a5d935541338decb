"""Who hears what: the G x M assignment of one volunteer, balanced across volunteers.

Pure functions (no Django), so the design can be tested exhaustively and replayed from a seed.

The scheme, for C conditions, I musical items shared by every condition, G groups of M clips:

1. How many clips of each condition this volunteer hears (n_c): every condition gets
   floor(G*M / C) and the G*M mod C conditions with the fewest exposures so far get one more.
   When M == C that is exactly G each, i.e. one per group. n_c <= G always (M <= C), so each
   group can hold a condition at most once.
2. Which items of each condition: the n_c items whose (condition, item) pair has been heard the
   fewest times (ties: items this volunteer has not heard yet, then at random). Taking the least
   exposed pairs keeps every condition's pair counts within one of each other; step 1 keeps the
   conditions' totals within one of each other, so all (condition, item) counts differ by at most
   one after every volunteer, and holes left by an abandoned seat are filled first.
3. Groups: conditions are dealt round-robin into the G groups (a condition's n_c <= G copies land
   in different groups, and every group gets exactly M clips); then the order within each group
   and the order of the groups are shuffled.

Everything random comes from one `random.Random(seed)`, so the same seed and the same exposure
counts give the same assignment.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field


class DesignError(ValueError):
    """The design cannot be built from these conditions and items."""


@dataclass(frozen=True)
class Slot:
    """One clip of a volunteer's session: a condition rendering a musical item."""

    condition: Hashable
    item: str


@dataclass(frozen=True)
class Assignment:
    """A volunteer's session: `groups[g][p]` is the clip at group g+1, position p+1."""

    groups: tuple[tuple[Slot, ...], ...]
    practice: Slot | None = None
    seed: int = 0
    slots: tuple[Slot, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "slots", tuple(slot for group in self.groups for slot in group))


def check_design(*, n_conditions: int, n_items: int, groups: int, clips_per_group: int) -> None:
    """Raise DesignError with a researcher-facing message if the design cannot be assigned."""
    if groups < 1 or clips_per_group < 1:
        raise DesignError("Groups and clips per group must be at least 1.")
    if n_conditions < 1:
        raise DesignError("The study needs at least one condition.")
    if clips_per_group > n_conditions:
        raise DesignError(
            f"Clips per group ({clips_per_group}) cannot exceed the number of conditions "
            f"({n_conditions}): a group holds each condition at most once."
        )
    needed = -(-groups * clips_per_group // n_conditions)  # the most clips of one condition
    if n_items < needed:
        raise DesignError(
            f"Each volunteer hears up to {needed} clips of one condition, each a different item, "
            f"but the conditions share only {n_items} item(s)."
        )


def condition_quota(
    *,
    conditions: Sequence[Hashable],
    groups: int,
    clips_per_group: int,
    totals: Mapping[Hashable, int],
    rng: random.Random,
) -> dict[Hashable, int]:
    """How many clips of each condition one volunteer hears (step 1 of the module docstring)."""
    base, extra = divmod(groups * clips_per_group, len(conditions))
    ranked = sorted(conditions, key=lambda c: (totals.get(c, 0), rng.random()))
    return {c: base + (1 if rank < extra else 0) for rank, c in enumerate(ranked)}


def assign(
    *,
    conditions: Sequence[Hashable],
    items: Sequence[str],
    groups: int,
    clips_per_group: int,
    seed: int,
    exposure: Mapping[tuple[Hashable, str], int] | None = None,
    practice: bool = False,
) -> Assignment:
    """Build one volunteer's G x M assignment.

    Args:
        conditions: condition keys (any hashable: ids in the app, names in tests), distinct.
        items: the musical items every condition renders, distinct.
        groups: G, the number of groups.
        clips_per_group: M, clips per group (<= number of conditions).
        seed: seeds every random choice; same seed and exposure give the same assignment.
        exposure: how often each (condition, item) pair is already held by other volunteers
            (missing pairs count 0).
        practice: also choose a practice clip, preferably an item this volunteer does not rate.

    Returns:
        The Assignment; `groups[g]` holds M slots of M distinct conditions.

    Raises:
        DesignError: the design is impossible (see check_design).
    """
    conditions = list(conditions)
    items = list(items)
    if len(set(conditions)) != len(conditions) or len(set(items)) != len(items):
        raise DesignError("Conditions and items must be distinct.")
    check_design(
        n_conditions=len(conditions), n_items=len(items), groups=groups, clips_per_group=clips_per_group
    )
    exposure = exposure or {}
    rng = random.Random(seed)

    totals = {c: sum(exposure.get((c, i), 0) for i in items) for c in conditions}
    quota = condition_quota(
        conditions=conditions, groups=groups, clips_per_group=clips_per_group, totals=totals, rng=rng
    )

    # Step 2: the least exposed items of each condition; conditions in random order so that no
    # condition always gets first pick of the items this volunteer has not heard yet.
    heard: Counter[str] = Counter()
    chosen: dict[Hashable, list[str]] = {}
    for c in rng.sample(conditions, len(conditions)):
        ranked = sorted(items, key=lambda i, c=c: (exposure.get((c, i), 0), heard[i], rng.random()))
        chosen[c] = ranked[: quota[c]]
        heard.update(chosen[c])

    # Step 3: deal conditions round-robin into groups. Conditions with more copies go first so
    # that every group ends with exactly M distinct conditions.
    dealing = sorted(conditions, key=lambda c: (-quota[c], rng.random()))
    deck = [Slot(c, item) for c in dealing for item in rng.sample(chosen[c], len(chosen[c]))]
    built: list[list[Slot]] = [[] for _ in range(groups)]
    for k, slot in enumerate(deck):
        built[k % groups].append(slot)
    for group in built:
        rng.shuffle(group)
    rng.shuffle(built)

    practice_slot = None
    if practice:
        unheard = [i for i in items if i not in heard] or items
        practice_slot = Slot(rng.choice(conditions), rng.choice(unheard))
    return Assignment(groups=tuple(tuple(g) for g in built), practice=practice_slot, seed=seed)


def participant_seed(study_seed: int, ordinal: int) -> int:
    """The seed of the ordinal-th volunteer of a study: replayable, different per volunteer."""
    return random.Random(f"{study_seed}:{ordinal}").getrandbits(62)


def exposure_spread(exposure: Mapping[tuple[Hashable, str], int], conditions, items) -> int:
    """max - min of the (condition, item) counts over every pair (0 = perfectly balanced)."""
    counts = [exposure.get((c, i), 0) for c in conditions for i in items]
    return max(counts) - min(counts)
