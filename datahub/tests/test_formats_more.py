"""Formats and containers beyond Alpaca / messages: ShareGPT with tools, Firefly, prompt/completion, HH-RLHF,
LLaMA-Factory v1 pairs, CSV, TSV, Parquet, column mapping, and tolerant reading."""

import json

import pytest

from common.errors import ApplicationError
from datahub.files import BadRow, file_rows
from datahub.formats import row_canonical, row_format, row_remap

GLAIVE_EN = "sft/hiyouga__LLaMA-Factory/glaive_toolcall_en_demo.json"
HH = "preference/anthropics__hh-rlhf/harmless-base/test.jsonl"
DPO_EN = "preference/hiyouga__LLaMA-Factory/dpo_en_demo.json"
V1_DPO = "preference/hiyouga__LLaMA-Factory/v1_dpo_demo.jsonl"
FIREFLY = "sft/yangjianxin1__Firefly/dummy_data.jsonl"


def read_all(path, format: str = "auto", **options) -> list[tuple[int, dict]]:
    out, kind = [], None if format == "auto" else format
    for line, row in file_rows(path, **options).rows:
        kind = kind or row_format(row, line=line)
        out.append((line, row_canonical(row, format=kind, line=line)))
    return out


def one(row: dict, format: str | None = None) -> dict:
    return row_canonical(row, format=format or row_format(row, line=1), line=1)


def test_sharegpt_function_call_and_observation_become_tool_calls_and_tool_messages():
    row = {"conversations": [
        {"from": "human", "value": "Weather in Paris?"},
        {"from": "gpt", "value": "Let me check."},
        {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Paris"}}'},
        {"from": "observation", "value": '{"temp": 21}'},
        {"from": "gpt", "value": "It is 21 degrees."}],
        "system": "Be brief.", "tools": '[{"name": "weather", "parameters": {"type": "object"}}]'}
    assert row_format(row, line=1) == "sharegpt"
    assert one(row) == {"kind": "sft", "tools": [{"name": "weather", "parameters": {"type": "object"}}], "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "content": '{"temp": 21}', "tool_call_id": "call_0"},
        {"role": "assistant", "content": "It is 21 degrees."}]}


def test_sharegpt_unknown_speaker_is_named():
    with pytest.raises(ApplicationError) as caught:
        one({"conversations": [{"from": "robot", "value": "hi"}]}, "sharegpt")
    assert (caught.value.where, caught.value.message) == (
        "line 1", "conversations[0].from is 'robot'; expected human, gpt, system, function_call or observation")


def test_sharegpt_roles_out_of_order_are_rejected():
    with pytest.raises(ApplicationError) as caught:
        one(
            {
                "conversations": [
                    {"from": "human", "value": "a"},
                    {"from": "human", "value": "b"},
                    {"from": "gpt", "value": "c"},
                ]
            }
        )
    assert (caught.value.where, caught.value.message) == ("line 1, messages", "two user turns in a row")


def test_glaive_toolcall_file_reads_every_row_with_tools(shared_data):
    rows = read_all(shared_data(GLAIVE_EN))
    assert len(rows) == 300
    with_calls = [clean for _, clean in rows if any(m.get("tool_calls") for m in clean["messages"])]
    assert len(with_calls) > 100
    assert all(isinstance(clean["tools"], list) for _, clean in rows if "tools" in clean)
    tool_messages = [m for clean in with_calls for m in clean["messages"] if m["role"] == "tool"]
    assert all(m["tool_call_id"].startswith("call_") for m in tool_messages)


def test_firefly_conversation(shared_data):
    first = json.loads(shared_data(FIREFLY).read_text(encoding="utf-8").splitlines()[0])
    rows = read_all(shared_data(FIREFLY))
    assert len(rows) == 33
    expected = []
    for turn in first["conversation"]:
        expected += [{"role": "user", "content": turn["human"]}, {"role": "assistant", "content": turn["assistant"]}]
    assert rows[0][1] == {"kind": "sft", "messages": expected}


def test_prompt_completion_sft():
    assert one({"prompt": "2+2?", "completion": "4"}) == {"kind": "sft", "messages": [
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}


def test_hh_rlhf_transcripts_share_the_prompt():
    row = {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Joke?\n\nAssistant: Knock knock.",
           "rejected": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Joke?\n\nAssistant: No."}
    assert one(row) == {"kind": "preference",
                        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                                     {"role": "user", "content": "Joke?"}],
                        "chosen": {"role": "assistant", "content": "Knock knock."},
                        "rejected": {"role": "assistant", "content": "No."}}


def test_hh_rlhf_file_reads_every_row(shared_data):
    rows = read_all(shared_data(HH))
    assert len(rows) == 2312
    assert all(clean["messages"][-1]["role"] == "user" for _, clean in rows)


def test_sharegpt_preference_pairs(shared_data):
    original = json.loads(shared_data(DPO_EN).read_text(encoding="utf-8"))[0]
    clean = read_all(shared_data(DPO_EN))[0][1]
    assert clean["messages"] == [{"role": "user", "content": original["conversations"][0]["value"]}]
    assert clean["chosen"] == {"role": "assistant", "content": original["chosen"]["value"]}


def test_v1_chosen_messages_with_typed_parts(shared_data):
    first = json.loads(shared_data(V1_DPO).read_text(encoding="utf-8").splitlines()[0])
    clean = read_all(shared_data(V1_DPO))[0][1]
    assert clean["messages"][0] == {"role": "system", "content": first["chosen_messages"][0]["content"][0]["value"]}
    assert clean["chosen"]["content"] == first["chosen_messages"][-1]["content"][0]["value"]
    assert clean["rejected"]["content"] == first["rejected_messages"][-1]["content"][0]["value"]


def test_openai_typed_text_parts():
    row = {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                        {"role": "assistant", "content": "c"}]}
    assert one(row)["messages"][0] == {"role": "user", "content": "ab"}


def test_image_parts_are_refused():
    row = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}
    with pytest.raises(ApplicationError) as caught:
        one(row)
    assert (caught.value.where, caught.value.message) == (
        "line 1",
        "only text content is supported, found a 'image_url' part",
    )


def test_csv_with_json_cells_and_a_header(write_file):
    path = write_file("data.csv", 'instruction,input,output\n"What is 2+2?",,4\n"Say ""hi""\nplease",,hi\n')
    opened = file_rows(path)
    assert (opened.container, opened.total) == ("csv", 2)
    rows = read_all(path)
    assert [line for line, _ in rows] == [2, 3]
    assert rows[1][1]["messages"][0]["content"] == 'Say "hi"\nplease'


def test_tsv_with_messages_column_and_label(write_file):
    messages = json.dumps([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    path = write_file("k.tsv", f"messages\tlabel\n{messages}\ttrue\n")
    assert read_all(path) == [
        (
            2,
            {
                "kind": "kto",
                "label": True,
                "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
            },
        )
    ]


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "Q1", "chosen": "good", "rejected": "bad"},
                                         {"prompt": "Q2", "chosen": "fine", "rejected": "worse"}]), path)
    opened = file_rows(path)
    assert (opened.container, opened.encoding, opened.total) == ("parquet", "binary", 2)
    assert [clean["chosen"]["content"] for _, clean in read_all(path)] == ["good", "fine"]


def test_container_override_reads_a_txt_as_tsv(write_file):
    path = write_file("export.txt", "instruction\toutput\na\tb\n")
    assert [clean["messages"][1]["content"] for _, clean in read_all(path, container="tsv")] == ["b"]


def test_column_mapping_renames_columns():
    row = row_remap({"question": "Q", "answer": "A", "id": 3}, {"instruction": "question", "output": "answer"})
    assert row == {"id": 3, "instruction": "Q", "output": "A"}
    assert one(row)["messages"] == [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]


def test_oversize_record_is_rejected():
    with pytest.raises(ApplicationError) as caught:
        row_canonical({"instruction": "q", "output": "x" * 500}, format="alpaca", line=9, max_chars=200)
    assert caught.value.where == "line 9"
    assert caught.value.message.endswith("characters; the limit is 200")


def test_tolerant_reading_yields_bad_rows(write_file):
    path = write_file("bad.jsonl", '{"instruction": "a", "output": "b"}\n{oops\n')
    rows = list(file_rows(path, tolerant=True).rows)
    assert rows[1] == (2, BadRow("malformed JSON: Expecting property name enclosed in double quotes (column 2)"))
