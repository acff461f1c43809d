"""Split groups: records sharing a prompt, a root parent (augmentations, corrections) or a link land together."""

from collections import Counter

import pytest

from datahub.splits import (
    DEFAULT_RATIOS,
    group_keys,
    split_assign,
    split_entries,
    split_for,
    split_targets,
    stratified_assign,
)


def test_a_lone_record_keeps_its_own_prompt_hash():
    assert group_keys([(1, "p1", None), (2, "p2", None), (3, "p1", None)]) == {1: "p1", 2: "p2", 3: "p1"}


def test_augmentations_take_the_key_of_their_root_whatever_their_own_prompt():
    rows = [(1, "root", None), (2, "para-a", 1), (3, "para-b", 2), (4, "other", None)]
    assert group_keys(rows) == {1: "root", 2: "root", 3: "root", 4: "other"}


def test_an_augmentation_sharing_a_prompt_with_another_record_joins_their_groups():
    # 3 is a paraphrase of 1 that happens to say what 5 says: 1, 3 and 5 must share a split.
    rows = [(1, "q-root", None), (3, "q-shared", 1), (5, "q-shared", None), (7, "q-alone", None)]
    keys = group_keys(rows)
    assert keys == {1: "q-root", 3: "q-root", 5: "q-root", 7: "q-alone"}


def test_the_key_does_not_depend_on_row_order():
    rows = [(1, "b", None), (2, "x", 1), (3, "x", None), (4, "a", 3), (5, "c", 9)]
    assert group_keys(rows) == group_keys(list(reversed(rows))) == {1: "b", 2: "b", 3: "b", 4: "b", 5: "c"}


def test_links_join_groups_and_a_cycle_of_parents_still_gets_a_key():
    assert group_keys([(1, "a", None), (2, "b", None), (3, "c", None)], links=[(1, 3), (8, 9)]) == {
        1: "a",
        2: "b",
        3: "a",
    }
    assert group_keys([(1, "z", 2), (2, "y", 1)]) == {1: "y", 2: "y"}


def test_every_augmentation_lands_in_its_roots_split():
    rows = []
    for root in range(1, 301):
        rows += [
            (root, f"prompt-{root}", None),
            (1000 + root, f"rewrite-{root}", root),
            (2000 + root, f"again-{root}", 1000 + root),
        ]
    keys = group_keys(rows)
    split_of = {pk: split_for(keys[pk], seed=7, ratios=DEFAULT_RATIOS) for pk, _, _ in rows}
    assert all(split_of[1000 + root] == split_of[2000 + root] == split_of[root] for root in range(1, 301))
    assert set(Counter(split_of[root] for root in range(1, 301))) == {"train", "validation", "test"}


@pytest.mark.parametrize("total,ratios,expected", [
    (4, (0.5, 0, 0.5), (2, 0, 2)),
    (64, (0.75, 0.1, 0.15), (48, 6, 10)),
    (100, (0.8, 0.1, 0.1), (80, 10, 10)),
    (5, (0.5, 0, 0.5), (3, 0, 2)),  # a tie of remainders goes to the earlier split
    (4, (0.8, 0.1, 0.1), (3, 1, 0)),
    (3, (1 / 3, 1 / 3, 1 / 3), (1, 1, 1)),
    (1, (0, 0, 1), (0, 0, 1)),
    (0, (0.8, 0.1, 0.1), (0, 0, 0)),
])
def test_split_targets_are_the_largest_remainder_shares(total, ratios, expected):
    targets = split_targets(total, dict(zip(("train", "validation", "test"), ratios)))
    assert tuple(targets.values()) == expected


@pytest.mark.parametrize("total", [4, 9, 10, 33, 64, 101])
@pytest.mark.parametrize("ratios", [(0.75, 0.1, 0.15), (0.5, 0, 0.5), (0.8, 0.1, 0.1), (0, 0.3, 0.7)])
def test_single_record_groups_meet_the_targets_exactly_for_every_seed(total, ratios):
    ratios = dict(zip(("train", "validation", "test"), ratios))
    for seed in range(5):
        splits = split_assign({f"g{i}": 1 for i in range(total)}, seed=seed, ratios=ratios)
        assert dict(Counter(splits.values())) == {k: v for k, v in split_targets(total, ratios).items() if v}


def test_groups_never_straddle_and_miss_the_targets_by_at_most_a_group():
    # 40 prompts, each with 1-3 records (a prompt's preference pairs): 80 records.
    rows, pk = [], 0
    for prompt in range(40):
        for _ in range(1 + prompt % 3):
            pk += 1
            rows.append((pk, f"prompt-{prompt}", None))
    keys = group_keys(rows)
    entries = split_entries(
        [pk for pk, _, _ in rows], keys, seed=3, ratios={"train": 0.75, "validation": 0.1, "test": 0.15}
    )
    split_of = {pk: split for pk, split, _ in entries}
    for prompt in range(40):
        assert len({split_of[pk] for pk, p, _ in rows if p == f"prompt-{prompt}"}) == 1
    counts = Counter(split_of.values())
    targets = split_targets(len(rows), {"train": 0.75, "validation": 0.1, "test": 0.15})
    assert all(abs(counts[split] - targets[split]) <= 3 for split in targets), (counts, targets)


def test_the_assignment_depends_on_the_seed_and_the_groups_not_their_order():
    groups = {f"g{i}": 1 + i % 2 for i in range(30)}
    ratios = {"train": 0.6, "validation": 0.2, "test": 0.2}
    assert split_assign(groups, seed=1, ratios=ratios) == split_assign(
        dict(reversed(groups.items())), seed=1, ratios=ratios
    )
    assert split_assign(groups, seed=1, ratios=ratios) != split_assign(groups, seed=2, ratios=ratios)


def test_stratified_targets_hold_within_each_stratum():
    groups = {f"a{i}": ("sft", 1) for i in range(10)} | {f"b{i}": ("preference", 1) for i in range(6)}
    splits = stratified_assign(groups, seed=0, ratios={"train": 0.5, "validation": 0, "test": 0.5})
    assert Counter(splits[f"a{i}"] for i in range(10)) == {"train": 5, "test": 5}
    assert Counter(splits[f"b{i}"] for i in range(6)) == {"train": 3, "test": 3}
