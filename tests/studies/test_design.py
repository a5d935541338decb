"""studies/design.py: balance, determinism, group structure, abandonment."""

import random
from collections import Counter

import pytest

from studies.design import DesignError, assign, check_design, exposure_spread, participant_seed

PAPER_CONDITIONS = ["proposed", "bilstm", "ec2vae", "vded", "real"]
ITEMS = [f"item{k:02d}" for k in range(8)]


def run_volunteers(n, *, conditions, items, groups, clips, seed=7, exposure=None):
    exposure = Counter(exposure or {})
    spreads = []
    assignments = []
    for ordinal in range(n):
        a = assign(
            conditions=conditions,
            items=items,
            groups=groups,
            clips_per_group=clips,
            seed=participant_seed(seed, ordinal),
            exposure=exposure,
        )
        assignments.append(a)
        exposure.update((s.condition, s.item) for s in a.slots)
        spreads.append(exposure_spread(exposure, conditions, items))
    return exposure, spreads, assignments


def test_paper_design_each_group_holds_each_condition_once():
    a = assign(conditions=PAPER_CONDITIONS, items=ITEMS, groups=3, clips_per_group=5, seed=1)
    assert len(a.groups) == 3
    for group in a.groups:
        assert sorted(s.condition for s in group) == sorted(PAPER_CONDITIONS)
    # No (condition, item) pair twice; each condition renders 3 different items for this volunteer.
    assert len(set(a.slots)) == 15
    for c in PAPER_CONDITIONS:
        assert len({s.item for s in a.slots if s.condition == c}) == 3


@pytest.mark.parametrize(
    ("conditions", "items", "groups", "clips"),
    [
        (PAPER_CONDITIONS, ITEMS, 3, 5),
        (PAPER_CONDITIONS, ITEMS[:3], 3, 5),  # as few items as possible
        (PAPER_CONDITIONS + ["anchor"], ITEMS, 3, 4),  # balanced subset: M < C
        (["a", "b", "c", "d", "e"], ITEMS[:5], 2, 3),
        (["a", "b"], ITEMS[:7], 4, 1),
    ],
)
def test_every_pair_count_differs_by_at_most_one_after_every_volunteer(conditions, items, groups, clips):
    exposure, spreads, assignments = run_volunteers(
        60, conditions=conditions, items=items, groups=groups, clips=clips
    )
    assert max(spreads) <= 1
    assert sum(exposure.values()) == 60 * groups * clips
    for a in assignments:
        assert [len(g) for g in a.groups] == [clips] * groups
        for g in a.groups:
            assert len({s.condition for s in g}) == clips  # distinct conditions within a group
        assert len(set(a.slots)) == groups * clips


def test_balanced_subset_keeps_condition_totals_within_one():
    conditions = PAPER_CONDITIONS + ["anchor"]
    exposure, _, _ = run_volunteers(25, conditions=conditions, items=ITEMS, groups=3, clips=4)
    totals = Counter()
    for (c, _i), n in exposure.items():
        totals[c] += n
    assert max(totals.values()) - min(totals.values()) <= 1


def test_deterministic_for_a_seed_and_different_across_seeds():
    kwargs = dict(conditions=PAPER_CONDITIONS, items=ITEMS, groups=3, clips_per_group=5, practice=True)
    exposure = {("proposed", "item00"): 2, ("real", "item03"): 1}
    first = assign(seed=42, exposure=exposure, **kwargs)
    again = assign(seed=42, exposure=dict(exposure), **kwargs)
    assert first == again
    orders = {tuple(assign(seed=s, **kwargs).slots) for s in range(20)}
    assert len(orders) == 20


def test_order_within_and_between_groups_is_random():
    first_condition = Counter()
    first_group_items = set()
    for s in range(200):
        a = assign(conditions=PAPER_CONDITIONS, items=ITEMS, groups=3, clips_per_group=5, seed=s)
        first_condition[a.groups[0][0].condition] += 1
        first_group_items.add(frozenset(x.item for x in a.groups[0]))
    # Each condition opens the session about 1/5 of the time (40 expected of 200).
    assert set(first_condition) == set(PAPER_CONDITIONS)
    assert min(first_condition.values()) >= 20
    assert len(first_group_items) > 50


def test_participant_seeds_are_replayable_and_distinct():
    assert participant_seed(5, 3) == participant_seed(5, 3)
    assert len({participant_seed(5, k) for k in range(1000)}) == 1000
    assert participant_seed(5, 0) != participant_seed(6, 0)


def test_holes_left_by_an_abandoned_seat_are_filled_first():
    exposure, _, assignments = run_volunteers(9, conditions=PAPER_CONDITIONS, items=ITEMS, groups=3, clips=5)
    abandoned = assignments[4]
    for slot in abandoned.slots:  # released: its trials no longer count
        exposure[(slot.condition, slot.item)] -= 1
    holes = {pair for pair in exposure if exposure[pair] < max(exposure.values()) - 1}
    replacement = assign(
        conditions=PAPER_CONDITIONS, items=ITEMS, groups=3, clips_per_group=5, seed=99, exposure=exposure
    )
    assert holes <= {(s.condition, s.item) for s in replacement.slots}
    exposure.update((s.condition, s.item) for s in replacement.slots)
    assert exposure_spread(exposure, PAPER_CONDITIONS, ITEMS) <= 1


def test_random_abandonment_then_refill_stays_balanced():
    rng = random.Random(3)
    exposure = Counter()
    live = []
    for ordinal in range(80):
        a = assign(
            conditions=PAPER_CONDITIONS,
            items=ITEMS,
            groups=3,
            clips_per_group=5,
            seed=participant_seed(11, ordinal),
            exposure=exposure,
        )
        exposure.update((s.condition, s.item) for s in a.slots)
        live.append(a)
        assert exposure_spread(exposure, PAPER_CONDITIONS, ITEMS) <= 1
        if rng.random() < 0.3:  # somebody walks away; their seat is released before the next join
            gone = live.pop(rng.randrange(len(live)))
            for s in gone.slots:
                exposure[(s.condition, s.item)] -= 1
            assert exposure_spread(exposure, PAPER_CONDITIONS, ITEMS) <= 2


def test_practice_slot_prefers_an_item_the_volunteer_does_not_rate():
    a = assign(conditions=PAPER_CONDITIONS, items=ITEMS, groups=1, clips_per_group=5, seed=4, practice=True)
    assert a.practice is not None
    assert a.practice.item not in {s.item for s in a.slots}
    no_practice = assign(conditions=PAPER_CONDITIONS, items=ITEMS, groups=1, clips_per_group=5, seed=4)
    assert no_practice.practice is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(n_conditions=4, n_items=8, groups=3, clips_per_group=5), "cannot exceed"),
        (dict(n_conditions=5, n_items=2, groups=3, clips_per_group=5), "share only 2"),
        (dict(n_conditions=0, n_items=2, groups=3, clips_per_group=5), "at least one condition"),
        (dict(n_conditions=5, n_items=2, groups=0, clips_per_group=5), "at least 1"),
    ],
)
def test_impossible_designs_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(DesignError, match=message):
        check_design(**kwargs)


def test_duplicate_conditions_or_items_are_refused():
    with pytest.raises(DesignError):
        assign(conditions=["a", "a"], items=ITEMS, groups=1, clips_per_group=2, seed=0)
    with pytest.raises(DesignError):
        assign(conditions=["a", "b"], items=["x", "x"], groups=1, clips_per_group=2, seed=0)
