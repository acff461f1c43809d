import json

import pytest

from common.errors import ApplicationError
from evaluation.general.benchmark_files import benchmark_file_read, subject_of


def test_mmlu_csv_with_a_newline_inside_a_field():
    data = b'"What is\nit?",a,b,c,d,B\nSecond,a,b,c,d,D\n'
    items = benchmark_file_read(name="college_physics_test.csv", data=data)
    assert [(i.subject, i.style, i.question, i.choices, i.gold, i.where) for i in items] == [
        ("college_physics", "mmlu", "What is\nit?", ("a", "b", "c", "d"), 1, "college_physics_test.csv, line 1"),
        ("college_physics", "mmlu", "Second", ("a", "b", "c", "d"), 3, "college_physics_test.csv, line 3"),
    ]


def test_cmmlu_and_ceval_headers_choose_the_chinese_style():
    cmmlu = benchmark_file_read(name="marketing.csv", data=",Question,A,B,C,D,Answer\n0,问题,甲,乙,丙,丁,C\n".encode())
    assert [(i.subject, i.style, i.gold) for i in cmmlu] == [("marketing", "cmmlu", 2)]
    ceval = benchmark_file_read(name="law_val.csv", data="id,question,A,B,C,D,answer\n0,问题,甲,乙,丙,丁,A\n".encode())
    assert [(i.subject, i.style, i.gold) for i in ceval] == [("law", "ceval", 0)]


def test_jsonl_with_a_choices_list_and_an_index_answer():
    lines = [{"question": "Q?", "choices": ["x", "y", "z"], "answer": 2, "subject": "toys"},
             {"question": "问?", "A": "甲", "B": "乙", "C": "丙", "D": "丁", "answer": "b", "style": "cmmlu"}]
    items = benchmark_file_read(
        name="set.jsonl", data="\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode()
    )
    assert [(i.subject, i.style, i.choices, i.gold) for i in items] == [
        ("toys", "mmlu", ("x", "y", "z"), 2), ("set", "cmmlu", ("甲", "乙", "丙", "丁"), 1)]


@pytest.mark.parametrize(
    ("name", "data", "where", "message"),
    [
        (
            "a_test.csv",
            b"Q,a,b,c,d,A\nQ2,a,b,c,d,E\n",
            "a_test.csv, line 2, field answer",
            "the answer must be one of A, B, C, D, got 'E'",
        ),
        (
            "a_test.csv",
            b"Q,a,b,c,d,A\n\"multi\nline\",a,,c,d,A\n",
            "a_test.csv, line 2, field B",
            "the option is empty",
        ),
        (
            "a_test.csv",
            b"Q,a,b,c,A\n",
            "a_test.csv, line 1",
            "an MMLU row has 6 fields (question, A, B, C, D, answer), this one has 5",
        ),
        (
            "m.csv",
            b",Question,A,B,C,D,Answer\n0,,a,b,c,d,A\n",
            "m.csv, line 2, field Question",
            "the question is empty",
        ),
        (
            "s.jsonl",
            b'{"question": "Q", "choices": ["a", "b"], "answer": "A"}\n{"question": "Q", "answer": 1}\n',
            "s.jsonl, line 2, field A",
            "give the options as choices: [...] or as A, B, C and D",
        ),
        ("s.jsonl", b'{"question": "Q", "choices": ["a", "b"], "answer": 1}\nnot json\n', "s.jsonl, line 2", None),
        ("s.csv", b"Q,a,b,c,d,A\n\xff\n", "s.csv, line 2", "the file is not UTF-8 text"),
        ("e.csv", b"", "e.csv", "the file holds no questions"),
    ],
)
def test_bad_rows_are_refused_with_line_and_field(name, data, where, message):
    with pytest.raises(ApplicationError) as caught:
        benchmark_file_read(name=name, data=data)
    assert caught.value.where == where
    if message is not None:
        assert caught.value.message == message


def test_subject_names_drop_the_split_suffix():
    assert [
        subject_of(n) for n in ("marketing_test.csv", "marketing_dev.csv", "law_val.csv", "marketing.csv", "_test.csv")
    ] == ["marketing", "marketing", "law", "marketing", "_test"]
