"""studies/design.py, the MUSHRA and pairwise designs: pages, balance, sides, determinism, holes."""

import random
from collections import Counter

import pytest

from studies.design import (
    DesignError,
    assign_mushra,
    assign_pairwise,
    check_mushra,
    check_pairwise,
    condition_pairs,
    pair_spread,
    participant_seed,
)

CONDITIONS = ["proposed", "bilstm", "ec2vae", "vded", "real"]
ITEMS = [f"item{k:02d}" for k in range(7)]


def add_pages(exposure: Counter, pages, sign: int = 1) -> None:
    """Count pairwise pages into (first, second, item) -> [left, right] (first: earlier in CONDITIONS)."""
    for page in pages:
        left, right = page.conditions
        first, second = sorted((left, right), key=CONDITIONS.index)
        sides = list(exposure.get((first, second, page.item), (0, 0)))
        sides[0 if left == first else 1] += sign
        exposure[(first, second, page.item)] = tuple(sides)


def test_mushra_pages_hold_every_condition_once_in_a_per_volunteer_order():
    a = assign_mushra(conditions=CONDITIONS, items=ITEMS, items_per_volunteer=3, seed=4)
    assert len(a.pages) == 3 and len({p.item for p in a.pages}) == 3
    for page in a.pages:
        assert sorted(page.conditions) == sorted(CONDITIONS)
    orders = {
        page.conditions
        for ordinal in range(20)
        for page in assign_mushra(
            conditions=CONDITIONS, items=ITEMS, items_per_volunteer=3, seed=participant_seed(1, ordinal)
        ).pages
    }
    assert len(orders) > 30  # 60 pages of 120 possible orders: the order is shuffled per page
    first_slots = Counter(order[0] for order in orders)
    assert set(first_slots) == set(CONDITIONS)


def test_mushra_items_stay_within_one_as_volunteers_join():
    exposure: Counter = Counter()
    for ordinal in range(40):
        a = assign_mushra(
            conditions=CONDITIONS,
            items=ITEMS,
            items_per_volunteer=3,
            seed=participant_seed(9, ordinal),
            exposure=exposure,
        )
        exposure.update(page.item for page in a.pages)
        counts = [exposure[i] for i in ITEMS]
        assert max(counts) - min(counts) <= 1, (ordinal, counts)
    assert sum(exposure.values()) == 120


def test_mushra_fills_the_items_an_abandoned_seat_left_first():
    exposure = Counter({i: 4 for i in ITEMS})
    exposure["item02"] = 3
    exposure["item05"] = 3
    a = assign_mushra(conditions=CONDITIONS, items=ITEMS, items_per_volunteer=2, seed=1, exposure=exposure)
    assert {p.item for p in a.pages} == {"item02", "item05"}


def test_mushra_is_replayable_and_practice_prefers_an_unscored_item():
    kwargs = dict(conditions=CONDITIONS, items=ITEMS, items_per_volunteer=3, seed=77, practice=True)
    a, b = assign_mushra(**kwargs), assign_mushra(**kwargs)
    assert a == b
    assert a.practice.item not in {p.item for p in a.pages}
    assert sorted(a.practice.conditions) == sorted(CONDITIONS)


@pytest.mark.parametrize(
    ("n_conditions", "n_items", "per_volunteer", "message"),
    [
        (1, 5, 1, "2 to 8 conditions"),
        (9, 5, 1, "2 to 8 conditions"),
        (5, 2, 3, "share only 2"),
        (5, 5, 0, "at least 1"),
    ],
)
def test_impossible_mushra_designs_say_why(n_conditions, n_items, per_volunteer, message):
    with pytest.raises(DesignError, match=message):
        check_mushra(n_conditions=n_conditions, n_items=n_items, items_per_volunteer=per_volunteer)


def test_condition_pairs_are_every_unordered_pair_once():
    pairs = condition_pairs(CONDITIONS)
    assert len(pairs) == 10 and len({frozenset(p) for p in pairs}) == 10


def test_pairwise_pairs_items_and_sides_stay_within_one_after_every_volunteer():
    exposure: Counter = Counter()
    for ordinal in range(30):
        a = assign_pairwise(
            conditions=CONDITIONS,
            items=ITEMS[:3],
            pairs_per_volunteer=4,
            seed=participant_seed(3, ordinal),
            exposure=exposure,
        )
        assert len(a.pages) == 4
        # Never the same pair twice for one volunteer (4 <= 10 pairs); the two clips differ.
        assert len({frozenset(p.conditions) for p in a.pages}) == 4
        assert all(len(set(p.conditions)) == 2 for p in a.pages)
        add_pages(exposure, a.pages)
        spread = pair_spread(exposure, CONDITIONS, ITEMS[:3])
        assert spread["pairs"] <= 1 and spread["items"] <= 1 and spread["sides"] <= 1, (ordinal, spread)
    assert sum(sum(v) for v in exposure.values()) == 120
    # 120 pages over 10 pairs: exactly 12 each, 6 on each side.
    for first, second in condition_pairs(CONDITIONS):
        sides = [exposure.get((first, second, i), (0, 0)) for i in ITEMS[:3]]
        assert sum(s[0] for s in sides) == 6 and sum(s[1] for s in sides) == 6


def test_pairwise_holes_from_abandoned_seats_are_filled_first():
    exposure: Counter = Counter()
    kept = []
    rng = random.Random(0)
    for ordinal in range(25):
        a = assign_pairwise(
            conditions=CONDITIONS,
            items=ITEMS[:2],
            pairs_per_volunteer=3,
            seed=participant_seed(5, ordinal),
            exposure=exposure,
        )
        add_pages(exposure, a.pages)
        kept.append(a)
        if rng.random() < 0.3:  # this volunteer abandons: its pages are given back
            add_pages(exposure, kept.pop().pages, sign=-1)
    hole_before = pair_spread(exposure, CONDITIONS, ITEMS[:2])
    for ordinal in range(25, 45):
        a = assign_pairwise(
            conditions=CONDITIONS,
            items=ITEMS[:2],
            pairs_per_volunteer=3,
            seed=participant_seed(5, ordinal),
            exposure=exposure,
        )
        add_pages(exposure, a.pages)
    spread = pair_spread(exposure, CONDITIONS, ITEMS[:2])
    assert hole_before["pairs"] >= 0 and spread["pairs"] <= 1 and spread["sides"] <= 1


def test_pairwise_is_replayable_and_the_seed_matters():
    kwargs = dict(conditions=CONDITIONS, items=ITEMS, pairs_per_volunteer=10, practice=True)
    assert assign_pairwise(seed=8, **kwargs) == assign_pairwise(seed=8, **kwargs)
    assert assign_pairwise(seed=8, **kwargs) != assign_pairwise(seed=9, **kwargs)
    a = assign_pairwise(seed=8, **kwargs)
    assert len({frozenset(p.conditions) for p in a.pages}) == 10  # every pair once
    assert a.practice is not None and len(set(a.practice.conditions)) == 2


@pytest.mark.parametrize(
    ("n_conditions", "n_items", "per_volunteer", "message"),
    [(1, 3, 1, "at least two"), (3, 0, 1, "no item"), (3, 2, 7, "from 1 to 6"), (3, 2, 0, "from 1 to 6")],
)
def test_impossible_pairwise_designs_say_why(n_conditions, n_items, per_volunteer, message):
    with pytest.raises(DesignError, match=message):
        check_pairwise(n_conditions=n_conditions, n_items=n_items, pairs_per_volunteer=per_volunteer)
