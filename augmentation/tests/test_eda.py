import pytest

from augmentation.eda import eda_variants, shipped_table, table_for, table_parse, words_split
from common.errors import ApplicationError


def test_same_seed_same_variants_and_another_seed_others():
    text = "How can I get a refund for a wrong order quickly?"
    first = eda_variants(text, seed=7)
    assert first == eda_variants(text, seed=7)
    assert eda_variants(text, seed=8) != first
    assert [operation for operation, _ in first] == ["synonym", "insert", "swap", "delete"]


def test_variants_are_exact_for_a_seed():
    assert eda_variants("How can I get a refund for a wrong order quickly?", seed=1) == [
        ("synonym", "How can I get a repayment for a wrong order quickly?"),
        ("insert", "How can I reimbursement get a refund for a wrong order quickly?"),
        ("swap", "How I can get a refund for a wrong order quickly?"),
        ("delete", "How can I get a refund for wrong quickly?"),
    ]


def test_variants_do_not_depend_on_other_texts_or_order():
    a, b = "Please help me fix this error", "Show me the cheap price"
    assert eda_variants(a, seed=3) == eda_variants(a, seed=3, table=table_for(a))
    eda_variants(b, seed=3)
    assert eda_variants(a, seed=3) == eda_variants(a, seed=3)


def test_chinese_is_segmented_by_the_table_and_joined_without_spaces():
    text = "我怎么才能快速获得错误订单的退款？"
    words, joiner = words_split(text, shipped_table("zh"))
    assert words == ["我", "怎么", "才", "能", "快速", "获得", "错误", "订单", "的", "退款", "？"]
    assert joiner == ""
    assert eda_variants(text, seed=1)[0] == ("synonym", "我怎么才能快速获得错误订购单的退款？")


def test_synonym_replacement_keeps_case_and_punctuation():
    (_, replaced), = eda_variants("Refund?", seed=0, variants=1, operations=["synonym"])
    assert replaced in {"Reimbursement?", "Repayment?"}


def test_shuffle_is_off_by_default_and_available():
    assert all(op != "shuffle" for op, _ in eda_variants("one two three four five", seed=0, variants=8))
    assert [op for op, _ in eda_variants("one two three four five", seed=0, variants=1, operations=["shuffle"])] == [
        "shuffle"
    ]


def test_alpha_sets_how_many_words_change():
    text = " ".join(["help"] * 20)
    (_, changed), = eda_variants(text, seed=0, alpha=0.1, variants=1, operations=["synonym"])
    assert sum(word != "help" for word in changed.split()) == 2


def test_user_table_tsv_and_json_are_symmetric():
    assert table_parse("# comment\nrefund\trepayment, payback\n") == {
        "payback": ["refund", "repayment"], "refund": ["payback", "repayment"], "repayment": ["payback", "refund"]}
    assert table_parse('{"Fast": ["quick"]}') == {"fast": ["quick"], "quick": ["fast"]}


def test_user_table_errors_name_the_line():
    with pytest.raises(ApplicationError) as error:
        table_parse("refund\trepayment\nbroken line\n", file_name="mine.tsv")
    assert error.value.where == "mine.tsv, line 2"
    with pytest.raises(ApplicationError) as error:
        table_parse('{"a": [1]}', file_name="mine.json")
    assert error.value.where == "mine.json, word 'a'"


def test_shipped_tables_are_modest_and_bilingual():
    assert 150 <= len(shipped_table("en").entries) <= 1000
    assert 150 <= len(shipped_table("zh").entries) <= 1000
