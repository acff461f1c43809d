"""Split groups: records sharing a prompt, a root parent (augmentations, corrections) or a link land together."""

from collections import Counter

from datahub.splits import DEFAULT_RATIOS, group_keys, split_for


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
    assert group_keys([(1, "a", None), (2, "b", None), (3, "c", None)], links=[(1, 3), (8, 9)]) == {1: "a", 2: "b", 3: "a"}
    assert group_keys([(1, "z", 2), (2, "y", 1)]) == {1: "y", 2: "y"}


def test_every_augmentation_lands_in_its_roots_split():
    rows = []
    for root in range(1, 301):
        rows += [(root, f"prompt-{root}", None), (1000 + root, f"rewrite-{root}", root), (2000 + root, f"again-{root}", 1000 + root)]
    keys = group_keys(rows)
    split_of = {pk: split_for(keys[pk], seed=7, ratios=DEFAULT_RATIOS) for pk, _, _ in rows}
    assert all(split_of[1000 + root] == split_of[2000 + root] == split_of[root] for root in range(1, 301))
    assert set(Counter(split_of[root] for root in range(1, 301))) == {"train", "validation", "test"}
