import pytest

from feedback.models import PII_KINDS
from feedback.pii import cn_id_valid, luhn_valid, scrub_text

ALL = frozenset(PII_KINDS)


@pytest.mark.parametrize("text, expected, count", [
    ("mail me at li.wei+shop@example.com.cn please", "mail me at [EMAIL] please", 1),
    ("我的手机是13812345678，谢谢", "我的手机是[PHONE]，谢谢", 1),
    ("call +86 138 1234 5678 or 0086-13912345678", "call [PHONE] or [PHONE]", 2),
    ("office +44 20 7946 0958 today", "office [PHONE] today", 1),
    ("身份证 11010519491231002X 已提交", "身份证 [ID] 已提交", 1),
    ("card 4111 1111 1111 1111 expires", "card [CARD] expires", 1),
    ("card 4111-1111-1111-1111", "card [CARD]", 1),
    # Not PII: an order number failing the Luhn check, an 18-digit number failing the ID check digit, a short code.
    ("order 4111111111111112 shipped", "order 4111111111111112 shipped", 0),
    ("ref 110105194912310021 noted", "ref 110105194912310021 noted", 0),
    ("code 123456 and 2026-11-20", "code 123456 and 2026-11-20", 0),
])
def test_scrub_replaces_each_kind_and_leaves_look_alikes(text, expected, count):
    assert scrub_text(text, ALL) == (expected, count)


def test_scrub_only_the_chosen_kinds():
    text = "a@b.io 13812345678"
    assert scrub_text(text, frozenset({"email"})) == ("[EMAIL] 13812345678", 1)
    assert scrub_text(text, frozenset()) == (text, 0)


def test_checksums():
    assert cn_id_valid("11010519491231002X") and not cn_id_valid("110105194912310021")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
