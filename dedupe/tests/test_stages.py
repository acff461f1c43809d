"""The stages and the keep/drop plan as pure functions: keys, shingles, MinHash LSH, faiss search, clusters."""

import numpy as np
import pytest

from common import text_similarity
from dedupe import stages
from dedupe.embeddings import texts_embed
from dedupe.plan import Decision, decisions_make, exact_collapse


def test_normalised_key_ignores_case_punctuation_and_spacing_but_keeps_digits():
    key = text_similarity.normalised_hash
    assert key("How do I reset my password?") == key("  how do i RESET my password ")
    assert key("Ｈｅｌｌｏ，世界！") == key("hello 世界")  # NFKC folds full-width forms
    assert key("What is 2+2?") != key("What is 3+3?")


def test_shingles_are_word_trigrams_for_long_text_and_character_5grams_for_short_or_cjk():
    assert text_similarity.shingles("one two three four five six seven eight") == {
        "one two three", "two three four", "three four five", "four five six", "five six seven", "six seven eight"}
    assert text_similarity.shingles("Reset it now") == {
        "reset",
        "eset ",
        "set i",
        "et it",
        "t it ",
        " it n",
        "it no",
        "t now",
    }
    assert text_similarity.shingles("我的包裹什么时候到") == {
        "我的包裹什",
        "的包裹什么",
        "包裹什么时",
        "裹什么时候",
        "什么时候到",
    }
    assert text_similarity.shingles("hi!") == {"hi"}


def test_near_pairs_verifies_candidates_with_exact_jaccard():
    base = " ".join(f"word{i}" for i in range(40))
    texts = [
        base,
        base.replace("word39", "other"),
        base.replace("word20", "x").replace("word30", "y"),
        "an unrelated short text",
    ]
    duplicates, misses = text_similarity.near_pairs(texts, threshold=0.8)
    # one word changed of forty: 37 shared word 3-grams of 39; two words changed: 32 of 44, below 0.8
    assert [(p.a, p.b, round(p.similarity, 4)) for p in duplicates] == [(0, 1, round(37 / 39, 4))]
    assert all(p.similarity < 0.8 for p in misses)


def test_ivf_search_finds_the_same_neighbours_as_exact_search(monkeypatch):
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(600, 32)).astype(np.float32)
    vectors[300:310] = vectors[0:10] + 0.01 * rng.normal(size=(10, 32)).astype(np.float32)  # ten near-copies
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    flat_pairs, flat_nearest = stages.semantic_neighbours(vectors)
    monkeypatch.setattr(stages, "FLAT_SEARCH_LIMIT", 100)
    ivf_pairs, ivf_nearest = stages.semantic_neighbours(vectors)
    close = lambda pairs: {(p.a, p.b) for p in pairs if p.similarity >= 0.95}
    assert close(flat_pairs) == close(ivf_pairs) == {(i, 300 + i) for i in range(10)}
    assert np.allclose(flat_nearest[:10], ivf_nearest[:10])


def test_histogram_counts_every_value_once():
    result = stages.histogram([0.1, 0.96, 0.97, 1.0, float("nan")], low=0.0, bins=4)
    assert result == {"edges": [0.0, 0.25, 0.5, 0.75, 1.0], "counts": [1, 0, 0, 3]}


def test_exact_collapse_keeps_the_best_ranked_copy():
    survivors, drops = exact_collapse(["k1", "k2", "k1", "k1"], stage="exact", candidates=[0, 1, 2, 3])
    assert survivors == [0, 1]
    assert drops == {2: Decision(2, True, 0, 1.0, "exact"), 3: Decision(3, True, 0, 1.0, "exact")}


def test_a_chain_keeps_both_ends_and_drops_only_the_middle():
    """A~B (0.97) and B~C (0.96) but A and C are not alike: SemDeDup keeps A and C."""
    decisions, clusters = decisions_make(3, exact_drops={}, edges=[(0, 1, 0.97, "semantic"), (1, 2, 0.96, "semantic")])
    assert decisions == {0: Decision(0, False), 1: Decision(1, True, 0, 0.97, "semantic"), 2: Decision(2, False)}
    assert [(c.members, c.kept, c.max_similarity) for c in clusters] == [([0, 1, 2], 0, 0.97)]


def test_an_exact_copy_of_a_dropped_item_points_at_the_final_kept_item():
    exact = {3: Decision(3, True, 1, 1.0, "exact")}
    decisions, clusters = decisions_make(4, exact_drops=exact, edges=[(0, 1, 0.9, "near")])
    assert decisions[3] == Decision(3, True, 0, 0.9, "near")
    assert decisions[1] == Decision(1, True, 0, 0.9, "near")
    assert [(c.members, c.kept) for c in clusters] == [([0, 1, 3], 0)]


@pytest.mark.django_db
def test_texts_embed_is_normalised_in_input_order_and_cached():
    stats: dict = {}
    vectors = texts_embed(["refund please", "我要退款", "refund please"], stats=stats)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[2])
    assert stats == {"embedded": 2, "cached": 0}
    again: dict = {}
    assert np.array_equal(texts_embed(["我要退款", "refund please"], stats=again), vectors[[1, 0]])
    assert again == {"embedded": 0, "cached": 2}
