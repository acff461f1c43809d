import pytest

from augmentation import filters
from augmentation.text import cosines, token_jaccard
from common.text import rouge_l

T = filters.THRESHOLDS_DEFAULT


def test_dedupe_checks_in_order():
    seen: set[str] = set()
    common = {"existing_hashes": {"h-old"}, "seen_hashes": seen}
    assert filters.verdict_dedupe(original="a b", text="  ", content_hash=None, **common).reason == "empty"
    assert filters.verdict_dedupe(original="a b", text="a c", content_hash=None, **common).reason == "invalid"
    assert filters.verdict_dedupe(original="a  b", text="a b", content_hash="h1", **common).reason == "unchanged"
    assert (
        filters.verdict_dedupe(original="a b", text="a c", content_hash="h-old", **common).reason
        == "duplicate_original"
    )
    assert filters.verdict_dedupe(original="a b", text="a c", content_hash="h2", **common) is None
    assert (
        filters.verdict_dedupe(original="a b", text="a d", content_hash="h2", **common).reason == "duplicate_candidate"
    )
    assert seen == {"h2"}


def test_back_translation_window_exact_counts():
    original = "how do i reset my password"
    cases = [
        ("what is the way to change my login secret", 0.90),  # new words, close meaning: kept
        ("how do i reset my password now", 0.97),  # same words: Jaccard 6/7 > 0.3
        ("the weather is nice", 0.10),  # drifted
        ("what is the way to change my login secret", 0.85),  # on the boundary: kept
        ("what is the way to change my login secret", 0.8499),  # just below
    ]
    verdicts = [filters.verdict_back_translation(original=original, text=t, cosine=c, thresholds=T) for t, c in cases]
    assert [v.reason for v in verdicts] == ["kept", "same_words", "too_far", "kept", "too_far"]
    assert sum(v.is_passing for v in verdicts) == 2
    assert verdicts[1].scores == {"cosine": 0.97, "jaccard": round(6 / 7, 4)}


def test_paraphrase_window_and_rouge_against_everything_kept():
    original = "how do i reset my password"
    kept = [original]
    cases = [
        ("what should i do to change my login secret", 0.90),  # kept
        ("what should i do to change my login secret please", 0.90),  # ROUGE-L vs the first kept > 0.7
        ("i forgot my password how can i reset it", 0.96),  # too close in meaning (>= 0.95)
        ("tell me about cats", 0.50),  # too far
        ("is there a way to recover access to my account", 0.95),  # 0.95 is outside [0.85, 0.95)
        ("is there a way to recover access to my account", 0.86),  # kept
    ]
    verdicts = [
        filters.verdict_paraphrase(original=original, text=t, cosine=c, kept=kept, thresholds=T) for t, c in cases
    ]
    assert [v.reason for v in verdicts] == ["kept", "rouge_overlap", "too_close", "too_far", "too_close", "kept"]
    assert kept == [original, cases[0][0], cases[5][0]]
    assert verdicts[1].scores["rouge_l"] == pytest.approx(2 * 9 / 10 * 9 / 9 / (9 / 10 + 1), abs=1e-4)


def test_measures_on_english_and_chinese():
    assert token_jaccard("A b c", "a b d") == 0.5
    assert rouge_l("我 想 退款", "我想退款") == 1.0
    assert rouge_l("abc", "") == 0.0


@pytest.mark.django_db
def test_cosines_with_the_default_embedding_model():
    same, near, far = cosines([("How do I reset my password?", "How do I reset my password?"),
                               ("How do I reset my password?", "How can I change my password?"),
                               ("How do I reset my password?", "Bananas are yellow fruit.")])
    assert same == pytest.approx(1.0, abs=1e-4)
    assert near > 0.7 > far
