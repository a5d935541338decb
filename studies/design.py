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


# --- MUSHRA ---------------------------------------------------------------------------------
#
# A MUSHRA page holds every condition of one item, so the design has one free choice per
# volunteer: which items (and in which order), and in which order the conditions sit on each page
# (slots A, B, ...). Items: the `items_per_volunteer` least heard so far (ties at random), which
# keeps every item's page count within one of the others after every volunteer, as step 2 above
# does for pairs; the page order and each page's condition order are shuffled per volunteer.

MAX_PAGE_CLIPS = 8  # slots "A".."H"; BS.1534 allows up to 12 conditions, a phone screen fewer


@dataclass(frozen=True)
class PageSlots:
    """One page: an item and its conditions in slot order (A, B, ...; pairwise: left, right)."""

    item: str
    conditions: tuple[Hashable, ...]


@dataclass(frozen=True)
class PageAssignment:
    """A MUSHRA or pairwise session: `pages[k]` is the page at position k+1."""

    pages: tuple[PageSlots, ...]
    practice: PageSlots | None = None
    seed: int = 0


def check_mushra(*, n_conditions: int, n_items: int, items_per_volunteer: int) -> None:
    """Raise DesignError with a researcher-facing message if the MUSHRA design cannot be assigned."""
    if not 2 <= n_conditions <= MAX_PAGE_CLIPS:
        raise DesignError(
            f"A MUSHRA page holds 2 to {MAX_PAGE_CLIPS} conditions; the study has {n_conditions}."
        )
    if items_per_volunteer < 1:
        raise DesignError("Items per volunteer must be at least 1.")
    if n_items < items_per_volunteer:
        raise DesignError(
            f"Each volunteer scores {items_per_volunteer} item(s), but the conditions share only {n_items}."
        )


def assign_mushra(
    *,
    conditions: Sequence[Hashable],
    items: Sequence[str],
    items_per_volunteer: int,
    seed: int,
    exposure: Mapping[str, int] | None = None,
    practice: bool = False,
) -> PageAssignment:
    """Build one volunteer's MUSHRA pages.

    Args:
        conditions: condition keys, distinct; every page holds all of them.
        items: the items every condition renders, distinct.
        items_per_volunteer: pages per volunteer, one item each.
        seed: seeds every random choice; same seed and exposure give the same pages.
        exposure: pages of each item already held by other volunteers (missing items count 0).
        practice: also a practice page, preferably of an item this volunteer does not score.

    Raises:
        DesignError: the design is impossible (see check_mushra).
    """
    conditions, items = list(conditions), list(items)
    if len(set(conditions)) != len(conditions) or len(set(items)) != len(items):
        raise DesignError("Conditions and items must be distinct.")
    check_mushra(n_conditions=len(conditions), n_items=len(items), items_per_volunteer=items_per_volunteer)
    exposure = exposure or {}
    rng = random.Random(seed)
    ranked = sorted(items, key=lambda i: (exposure.get(i, 0), rng.random()))
    chosen = ranked[:items_per_volunteer]
    rng.shuffle(chosen)
    pages = tuple(PageSlots(item, tuple(rng.sample(conditions, len(conditions)))) for item in chosen)
    practice_page = None
    if practice:
        unscored = [i for i in items if i not in chosen] or items
        practice_page = PageSlots(rng.choice(unscored), tuple(rng.sample(conditions, len(conditions))))
    return PageAssignment(pages=pages, practice=practice_page, seed=seed)


# --- Pairwise preference --------------------------------------------------------------------
#
# A pairwise page shows two conditions rendering the same item. Exposure is kept per
# (unordered pair, item, side): how many pages show the pair's first condition on the left, and
# how many on the right. Each of a volunteer's pages is chosen greedily, counts updated as it goes:
#   1. the pair shown least often (ties: pairs this volunteer has not had yet, then at random);
#   2. its item shown least often with that pair (ties: items this volunteer has heard least);
#   3. the side the pair's first condition has had least often, over all items (ties at random).
# Each step adds one to a count that was the smallest, and adding one to a smallest count keeps
# all counts within one of each other: after every volunteer, every unordered pair has been shown
# within one as often as any other, each pair's items within one, and each condition of a pair on
# the left within one as often as on the right. A seat that ends early gives its unanswered pages
# back, and those holes are the smallest counts, so the next volunteers fill them first. With
# pairs_per_volunteer <= the number of pairs no volunteer sees a pair twice.


def condition_pairs(conditions: Sequence[Hashable]) -> list[tuple[Hashable, Hashable]]:
    """Every unordered pair, each as (earlier, later) in `conditions`' order."""
    conditions = list(conditions)
    return [(a, b) for k, a in enumerate(conditions) for b in conditions[k + 1 :]]


def check_pairwise(*, n_conditions: int, n_items: int, pairs_per_volunteer: int) -> None:
    """Raise DesignError with a researcher-facing message if the pairwise design cannot be assigned."""
    if n_conditions < 2:
        raise DesignError("A pairwise study needs at least two conditions.")
    if n_items < 1:
        raise DesignError("The conditions share no item.")
    n_pairs = n_conditions * (n_conditions - 1) // 2
    if not 1 <= pairs_per_volunteer <= n_pairs * n_items:
        raise DesignError(
            f"Pairs per volunteer must be from 1 to {n_pairs * n_items} ({n_pairs} pairs of conditions "
            f"x {n_items} item(s)); it is {pairs_per_volunteer}."
        )


PairKey = tuple[Hashable, Hashable, str]  # (first condition, second condition, item)


def assign_pairwise(
    *,
    conditions: Sequence[Hashable],
    items: Sequence[str],
    pairs_per_volunteer: int,
    seed: int,
    exposure: Mapping[PairKey, tuple[int, int]] | None = None,
    practice: bool = False,
) -> PageAssignment:
    """Build one volunteer's pairwise pages (the scheme above).

    Args:
        conditions: condition keys, distinct; pairs are (earlier, later) in this order.
        items: the items every condition renders, distinct.
        pairs_per_volunteer: pages per volunteer.
        seed: seeds every random choice; same seed and exposure give the same pages.
        exposure: (first, second, item) -> (pages with first on the left, pages with first on
            the right) already held by other volunteers; missing keys count (0, 0).
        practice: also a practice page (a random pair and item), not counted.

    Returns:
        The pages in the volunteer's order; each page's conditions are (left, right).

    Raises:
        DesignError: the design is impossible (see check_pairwise).
    """
    conditions, items = list(conditions), list(items)
    if len(set(conditions)) != len(conditions) or len(set(items)) != len(items):
        raise DesignError("Conditions and items must be distinct.")
    check_pairwise(n_conditions=len(conditions), n_items=len(items), pairs_per_volunteer=pairs_per_volunteer)
    rng = random.Random(seed)
    counts = {key: list(sides) for key, sides in (exposure or {}).items()}
    pairs = condition_pairs(conditions)

    def sides(a, b, item) -> list[int]:
        return counts.setdefault((a, b, item), [0, 0])

    def pair_total(pair) -> int:
        return sum(sum(sides(*pair, item)) for item in items)

    mine_pairs: Counter = Counter()
    mine_items: Counter = Counter()
    pages = []
    for _ in range(pairs_per_volunteer):
        a, b = min(pairs, key=lambda p: (pair_total(p), mine_pairs[p], rng.random()))
        item = min(
            items, key=lambda i: (sum(sides(a, b, i)), mine_items[(a, b, i)], mine_items[i], rng.random())
        )
        left = sum(sides(a, b, i)[0] for i in items)
        right = sum(sides(a, b, i)[1] for i in items)
        first_left = left < right or (left == right and rng.random() < 0.5)
        sides(a, b, item)[0 if first_left else 1] += 1
        mine_pairs[(a, b)] += 1
        mine_items.update([(a, b, item), item])
        pages.append(PageSlots(item, (a, b) if first_left else (b, a)))
    rng.shuffle(pages)
    practice_page = None
    if practice:
        a, b = rng.choice(pairs)
        practice_page = PageSlots(rng.choice(items), (a, b) if rng.random() < 0.5 else (b, a))
    return PageAssignment(pages=tuple(pages), practice=practice_page, seed=seed)


def pair_spread(exposure: Mapping[PairKey, tuple[int, int]], conditions, items) -> dict[str, int]:
    """max - min of the pairwise counts (0 = perfectly balanced): per unordered pair ("pairs"), per
    (pair, item) ("items") and, within each pair, first-on-the-left minus first-on-the-right ("sides")."""
    pairs = condition_pairs(conditions)
    per_pair = [sum(sum(exposure.get((a, b, i), (0, 0))) for i in items) for a, b in pairs]
    per_item = [sum(exposure.get((a, b, i), (0, 0))) for a, b in pairs for i in items]
    per_side = []
    for a, b in pairs:
        left = sum(exposure.get((a, b, i), (0, 0))[0] for i in items)
        right = sum(exposure.get((a, b, i), (0, 0))[1] for i in items)
        per_side.append(abs(left - right))
    return {
        "pairs": max(per_pair) - min(per_pair),
        "items": max(per_item) - min(per_item),
        "sides": max(per_side),
    }
