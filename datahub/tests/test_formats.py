"""Reading import files: real public files, then one small inline file per way a file can be wrong."""

import json

import pytest

from common.errors import ApplicationError
from datahub.files import file_rows
from datahub.formats import row_canonical, row_format

ALPACA_EN = "sft/hiyouga__LLaMA-Factory/alpaca_en_demo.json"
ALPACA_ZH = "sft/hiyouga__LLaMA-Factory/alpaca_zh_demo.json"
KTO_EN = "preference/hiyouga__LLaMA-Factory/kto_en_demo.json"
FIREFLY_DPO = "preference/yangjianxin1__Firefly/dummy_dpo.jsonl"
V1_SFT = "sft/hiyouga__LLaMA-Factory/v1_sft_demo.jsonl"


def read_all(path, format: str = "auto") -> list[tuple[int, dict]]:
    """(line, canonical row) for every row, the way the import reads a file."""
    out, kind = [], None if format == "auto" else format
    for line, row in file_rows(path).rows:
        kind = kind or row_format(row, line=line)
        out.append((line, row_canonical(row, format=kind, line=line)))
    return out


def failure(path, format: str = "auto") -> tuple[str, str]:
    with pytest.raises(ApplicationError) as caught:
        read_all(path, format)
    return caught.value.where, caught.value.message


# ---------------------------------------------------------------- real files


def test_alpaca_en_demo_reads_every_row(shared_data):
    path = shared_data(ALPACA_EN)
    original = json.loads(path.read_text(encoding="utf-8"))
    opened = file_rows(path)
    assert (opened.encoding, opened.container, opened.total) == ("utf-8", "json", 999)
    rows = read_all(path)
    assert len(rows) == 999
    assert {clean["kind"] for _, clean in rows} == {"sft"}
    line, first = rows[0]
    assert line == 2
    assert first["messages"] == [
        {"role": "user", "content": original[0]["instruction"]},
        {"role": "assistant", "content": original[0]["output"]},
    ]
    with_input = next(i for i, row in enumerate(original) if row["input"])
    assert (
        rows[with_input][1]["messages"][0]["content"]
        == f"{original[with_input]['instruction']}\n{original[with_input]['input']}"
    )
    # Each row of this pretty-printed file spans five lines, so the recorded lines step by five.
    assert [line for line, _ in rows[:4]] == [2, 7, 12, 17]


def test_alpaca_zh_demo_keeps_chinese_text(shared_data):
    path = shared_data(ALPACA_ZH)
    original = json.loads(path.read_text(encoding="utf-8"))
    rows = read_all(path)
    assert len(rows) == 1000
    assert (
        rows[0][1]["messages"][0]["content"]
        == original[0]["instruction"]
        == "识别并解释给定列表中的两个科学理论：细胞理论和日心说。"
    )
    assert rows[0][1]["messages"][1]["content"] == original[0]["output"]


def test_kto_en_demo_reads_labels(shared_data):
    path = shared_data(KTO_EN)
    original = json.loads(path.read_text(encoding="utf-8"))
    rows = read_all(path)
    assert len(rows) == 300
    assert {clean["kind"] for _, clean in rows} == {"kto"}
    assert sum(clean["label"] for _, clean in rows) == sum(row["label"] is True for row in original)
    assert rows[0][1]["messages"] == [{"role": m["role"], "content": m["content"]} for m in original[0]["messages"]]


def test_ultrafeedback_style_preference_takes_the_prompt_from_the_chosen_turns(shared_data):
    path = shared_data(FIREFLY_DPO)
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    rows = read_all(path)
    assert len(rows) == 16
    clean = rows[0][1]
    assert clean["kind"] == "preference"
    assert clean["messages"] == [{"role": "user", "content": first["prompt"]}]
    assert clean["chosen"] == {"role": "assistant", "content": first["chosen"][-1]["content"]}
    assert clean["rejected"] == {"role": "assistant", "content": first["rejected"][-1]["content"]}


def test_typed_content_parts_are_flattened(shared_data):
    path = shared_data(V1_SFT)
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    rows = read_all(path)
    assert len(rows) == 500
    assert rows[0][1]["messages"] == [
        {"role": m["role"], "content": m["content"][0]["value"]} for m in first["messages"]
    ]


# ---------------------------------------------------------------- formats and encodings, inline


def test_messages_jsonl_with_tools(write_file):
    tools = [{"type": "function", "function": {"name": "refund", "parameters": {}}}]
    path = write_file(
        "chat.jsonl",
        [
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                ],
                "tools": tools,
            }
        ],
    )
    assert read_all(path) == [
        (
            1,
            {
                "kind": "sft",
                "tools": tools,
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                ],
            },
        )
    ]


def test_alpaca_system_and_history(write_file):
    path = write_file(
        "a.json",
        json.dumps(
            [
                {
                    "system": "You are a clerk.",
                    "history": [["Hi", "Hello"]],
                    "instruction": "Refund?",
                    "input": "order 7",
                    "output": "Done.",
                }
            ]
        ),
    )
    assert read_all(path) == [
        (
            1,
            {
                "kind": "sft",
                "messages": [
                    {"role": "system", "content": "You are a clerk."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Refund?\norder 7"},
                    {"role": "assistant", "content": "Done."},
                ],
            },
        )
    ]


def test_preference_from_plain_strings_with_system(write_file):
    path = write_file("p.jsonl", [{"system": "Be kind.", "prompt": "Rate me", "chosen": "Gladly.", "rejected": "No."}])
    assert read_all(path) == [
        (
            1,
            {
                "kind": "preference",
                "messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Rate me"}],
                "chosen": {"role": "assistant", "content": "Gladly."},
                "rejected": {"role": "assistant", "content": "No."},
            },
        )
    ]


def test_trl_kto_prompt_completion_rows(write_file):
    path = write_file(
        "k.jsonl",
        [
            {
                "prompt": [{"role": "user", "content": "Hi"}],
                "completion": [{"role": "assistant", "content": "Yo"}],
                "label": False,
            }
        ],
    )
    assert read_all(path) == [
        (
            1,
            {
                "kind": "kto",
                "label": False,
                "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
            },
        )
    ]


@pytest.mark.parametrize(
    "encoding,expected",
    [
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),
        ("utf-16-le", "utf-16-le"),
        ("utf-16-be", "utf-16-be"),
        ("utf-8", "utf-8"),
        ("gb18030", "gb18030"),
        ("gbk", "gb18030"),
    ],
)
def test_encodings(write_file, encoding, expected):
    text = json.dumps({"instruction": "咖啡馆在哪里？", "output": "咖啡"}, ensure_ascii=False) + "\n"
    path = write_file("enc.jsonl", text, encoding=encoding)
    assert file_rows(path).encoding == expected
    messages = [{"role": "user", "content": "咖啡馆在哪里？"}, {"role": "assistant", "content": "咖啡"}]
    assert read_all(path) == [(1, {"kind": "sft", "messages": messages})]


def test_utf16_json_array_keeps_line_numbers(write_file):
    rows = [{"instruction": "a", "output": "b"}, {"instruction": "c", "output": "d"}]
    path = write_file("u16.json", json.dumps(rows, indent=2), encoding="utf-16")
    assert [line for line, _ in read_all(path)] == [2, 6]


def test_explicit_format_overrides_detection(write_file):
    # A row with both shapes: auto picks messages (it has "messages"); forcing alpaca reads instruction/output.
    row = {
        "messages": [{"role": "user", "content": "m"}, {"role": "assistant", "content": "n"}],
        "instruction": "i",
        "output": "o",
    }
    path = write_file("both.jsonl", [row])
    assert read_all(path)[0][1]["messages"][0]["content"] == "m"
    assert read_all(path, "alpaca")[0][1]["messages"][0]["content"] == "i"


def test_blank_lines_in_jsonl_are_skipped_and_lines_counted(write_file):
    path = write_file(
        "gaps.jsonl", '{"instruction": "a", "output": "b"}\n\n\r\n{"instruction": "c", "output": "d"}\r\n'
    )
    assert file_rows(path).total == 2
    assert [line for line, _ in read_all(path)] == [1, 4]


# ---------------------------------------------------------------- errors, each naming the line


def test_malformed_jsonl_line(write_file):
    path = write_file("bad.jsonl", '{"instruction": "a", "output": "b"}\n'
                                   '{"instruction": "c", "output": "d"}\n'
                                   '{"instruction": "e", "output": }\n')
    assert failure(path) == ("line 3", "malformed JSON: Expecting value (column 32)")


def test_malformed_json_array_names_the_line(write_file):
    path = write_file(
        "bad.json", '[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c" "output": "d"}\n]\n'
    )
    assert failure(path) == ("line 3", "malformed JSON: Expecting ',' delimiter (column 23)")


def test_unclosed_json_array(write_file):
    path = write_file("open.json", '[\n{"instruction": "a", "output": "b"}\n')
    assert failure(path) == ("line 3", "malformed JSON: the array is not closed with ']'")


def test_missing_field_names_line_and_field(write_file):
    path = write_file("missing.jsonl", alpaca_like(3) + [{"instruction": "no answer"}])
    assert failure(path) == ("line 4", "field 'output' is missing")
    with pytest.raises(ApplicationError) as caught:
        read_all(path)
    assert str(caught.value) == "line 4: field 'output' is missing"


def test_missing_field_in_json_array_names_the_row_start_line(write_file):
    path = write_file("missing.json", json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "c"}], indent=2))
    assert failure(path) == ("line 6", "field 'output' is missing")


def test_wrong_field_type(write_file):
    path = write_file("type.jsonl", [{"instruction": "a", "output": 42}])
    assert failure(path) == ("line 1", "field 'output' must be text, not a number")


def test_row_that_is_not_an_object(write_file):
    path = write_file("list.jsonl", '{"instruction": "a", "output": "b"}\n["instruction", "output"]\n')
    assert failure(path) == ("line 2", "a row must be a JSON object, not a list")


def test_empty_conversation(write_file):
    path = write_file("empty.jsonl", [{"messages": []}])
    assert failure(path) == ("line 1, messages", "the conversation is empty")


def test_unknown_role(write_file):
    path = write_file("role.jsonl", [{"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]}])
    assert failure(path) == (
        "line 1, messages[1].role",
        "unknown role 'bot'; expected one of system, user, assistant, tool",
    )


def test_chosen_equal_to_rejected(write_file):
    path = write_file("same.jsonl", [{"prompt": "Q", "chosen": "Same answer", "rejected": "Same answer "}])
    assert failure(path) == ("line 1, chosen", "chosen and rejected are the same answer")


def test_empty_output(write_file):
    path = write_file("blank.jsonl", [{"instruction": "a", "output": "  "}])
    assert failure(path) == ("line 1", "field 'output' is empty")


def test_kto_label_must_be_boolean(write_file):
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    path = write_file("label.jsonl", [{"messages": messages, "label": "yes"}])
    assert failure(path) == ("line 1", "field 'label' must be true or false, not text")


def test_unknown_row_shape(write_file):
    path = write_file("shape.jsonl", [{"question": "a", "answer": "b"}])
    assert failure(path) == (
        "line 1",
        "cannot tell the row format from its fields (answer, question); "
        "expected Alpaca (instruction, output), ShareGPT (conversations), messages, prompt/completion, "
        "prompt/chosen/rejected, or messages with a label; choose a format or map the columns",
    )


def test_a_later_row_of_another_shape_is_an_error_not_a_guess(write_file):
    path = write_file(
        "mixed.jsonl", [{"instruction": "a", "output": "b"}, {"messages": [{"role": "user", "content": "c"}]}]
    )
    assert failure(path) == ("line 2", "field 'instruction' is missing")


@pytest.mark.parametrize("content,what", [
    (b"\x1f\x8b\x08\x00rest-of-gzip", "a gzip archive"),
    (b"PK\x03\x04zip", "a zip archive (or an Excel / Word file)"),
    (b"%PDF-1.7", "a PDF document"),
])
def test_archives_and_documents_are_named(write_file, content, what):
    assert failure(write_file("blob.bin", content)) == (
        "line 1",
        f"the file is {what}, not JSON, JSONL, CSV, TSV or Parquet",
    )


def test_binary_file(write_file):
    assert failure(write_file("blob.bin", bytes(range(256)))) == (
        "line 1",
        "the file is binary, not JSON, JSONL, CSV, TSV or Parquet text",
    )


def test_invalid_utf8_names_the_line(write_file):
    good, bad = (
        '{"instruction": "a", "output": "b"}\n'.encode(),
        '{"instruction": "café", "output": "b"}\n'.encode("latin-1"),
    )
    path = write_file("latin1.jsonl", good + bad)
    assert failure(path) == (
        "line 2",
        "the text is not valid UTF-8 (byte 21 of the line); save the file as UTF-8 or UTF-16",
    )


@pytest.mark.parametrize("content", ["", "  \n\n", "[]", "[ \n ]"])
def test_empty_files(write_file, content):
    where, message = failure(write_file("empty.json", content))
    assert message in {"the file is empty", "the file holds an empty array: there are no rows to import"}


def test_single_pretty_printed_object_is_explained(write_file):
    path = write_file("one.json", json.dumps({"instruction": "a", "output": "b"}, indent=2))
    assert failure(path) == (
        "line 1",
        "the file holds one JSON object; expected an array of rows, or one row per line (JSONL)",
    )


def alpaca_like(count: int) -> list[dict]:
    return [{"instruction": f"q{n}", "output": f"a{n}"} for n in range(count)]


def test_preference_answer_must_be_the_assistants(write_file):
    path = write_file("role.jsonl", [{"prompt": "Q", "chosen": [{"role": "user", "content": "A"}], "rejected": "B"}])
    assert failure(path) == ("line 1, chosen.role", "the chosen answer must be an assistant message, not 'user'")
