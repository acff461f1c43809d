"""The demo's simulated rater (common.simulation): it prefers the answer closer to the reference reply by ROUGE-L F1."""

from common.simulation import (
    CLOSER_TO_REFERENCE,
    LIKE_THRESHOLD,
    TIE_MARGIN,
    closer_to_reference,
    liked_by_reference,
    picked_by_reference,
    rule_description,
)
from common.text import rouge_l

REFERENCE = "Refunds are issued within 5 business days after the warehouse receives your return."
CLOSE = "Your refund is issued within 5 business days after we receive the return."
FAR = "How about noodle soup? It takes about twenty minutes."


def test_it_prefers_the_answer_closer_to_the_reference_whichever_side_it_is_on():
    assert rouge_l(REFERENCE, CLOSE) > rouge_l(REFERENCE, FAR) + TIE_MARGIN
    assert closer_to_reference(reference=REFERENCE, first=CLOSE, second=FAR) == "first"
    assert closer_to_reference(reference=REFERENCE, first=FAR, second=CLOSE) == "second"


def test_answers_about_as_close_are_a_tie():
    assert closer_to_reference(reference=REFERENCE, first=FAR, second=FAR + " Enjoy!") == "tie"
    assert closer_to_reference(reference=REFERENCE, first=CLOSE, second=CLOSE) == "tie"
    # Just under the margin apart is still a tie; just over it is a preference.
    reference = " ".join(f"w{i}" for i in range(100))
    near = " ".join(f"w{i}" for i in range(50))
    nearer = " ".join(f"w{i}" for i in range(51))
    assert 0 < rouge_l(reference, nearer) - rouge_l(reference, near) < TIE_MARGIN
    assert closer_to_reference(reference=reference, first=nearer, second=near) == "tie"
    assert closer_to_reference(reference=reference, first=" ".join(f"w{i}" for i in range(60)), second=near) == "first"


def test_chinese_is_compared_by_character():
    reference = "退款会在仓库收到退货后的5个工作日内发放。"
    assert (
        closer_to_reference(reference=reference, first="今天天气很好。", second="退货收到后5个工作日内退款。")
        == "second"
    )


def test_likes_and_picks_follow_the_same_similarity():
    assert rouge_l(REFERENCE, CLOSE) >= LIKE_THRESHOLD > rouge_l(REFERENCE, FAR)
    assert liked_by_reference(reference=REFERENCE, answer=CLOSE) is True
    assert liked_by_reference(reference=REFERENCE, answer=FAR) is False
    assert picked_by_reference(reference=REFERENCE, answers=[FAR, CLOSE, FAR]) == 1
    assert picked_by_reference(reference=REFERENCE, answers=[CLOSE, CLOSE]) == 0


def test_the_rule_is_described_for_the_pages():
    assert "ROUGE-L" in rule_description(CLOSER_TO_REFERENCE) and "0.02" in rule_description(CLOSER_TO_REFERENCE)
    assert rule_description("a-rule-from-elsewhere") == "a-rule-from-elsewhere"
