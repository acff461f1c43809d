"""Answers that carry reasoning ("reasoning_content", or a <think>…</think> block opening the answer) import as
"reasoning_content", show in the conversation viewer, and export to TRL JSONL and the Hugging Face folder."""

import json
import zipfile

import pytest
from django.urls import reverse

from common.errors import ApplicationError
from datahub.canonical import canonical_validate
from datahub.export import version_export_hf_zip, version_export_jsonl
from datahub.models import Record
from datahub.services.datasets import dataset_create
from datahub.services.versions import dataset_version_freeze

THOUGHT = "The customer wants a refund; orders ship within 3 days."


def test_reasoning_content_is_kept_and_a_think_block_becomes_it():
    kept = canonical_validate(
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!", "reasoning_content": f"\n{THOUGHT}\n"},
            ]
        }
    )
    inline = canonical_validate(
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": f"<think>\n{THOUGHT}\n</think>\n\nHello!"},
            ]
        }
    )
    assert (
        kept["messages"][1]
        == inline["messages"][1]
        == {"role": "assistant", "content": "Hello!", "reasoning_content": THOUGHT}
    )
    # An empty block is no reasoning; text that merely mentions the tag is left alone.
    empty = canonical_validate({"messages": [{"role": "user", "content": "Hi"},
                                             {"role": "assistant", "content": "<think>\n\n</think>\n\nHello!"}]})
    assert empty["messages"][1] == {"role": "assistant", "content": "Hello!"}
    mention = canonical_validate({"messages": [{"role": "user", "content": "Hi"},
                                               {"role": "assistant", "content": "Write <think> to start."}]})
    assert mention["messages"][1] == {"role": "assistant", "content": "Write <think> to start."}


def test_reasoning_that_is_not_text_is_refused_where_it_is():
    with pytest.raises(ApplicationError) as error:
        canonical_validate({"messages": [{"role": "user", "content": "Hi"},
                                         {"role": "assistant", "content": "Hello!", "reasoning_content": ["no"]}]})
    assert (error.value.message, error.value.where) == (
        "reasoning_content must be text",
        "messages[1].reasoning_content",
    )


@pytest.fixture
def reasoning_dataset(workspace, write_file, import_path):
    """Reasoning in each format people bring it in: messages with reasoning_content, Alpaca and ShareGPT answers opening
    with <think>, a preference pair whose chosen answer thinks first."""
    dataset = dataset_create(workspace=workspace, name="Thinking")
    import_path(dataset, write_file("messages.jsonl", [{"messages": [
        {"role": "user", "content": "Where is my order?"},
        {"role": "assistant", "content": "It ships tomorrow.", "reasoning_content": THOUGHT}]}]))
    import_path(
        dataset, write_file("alpaca.jsonl", [{"instruction": "Refund?", "output": f"<think>{THOUGHT}</think>Yes."}])
    )
    import_path(
        dataset,
        write_file(
            "sharegpt.jsonl",
            [
                {
                    "conversations": [
                        {"from": "human", "value": "Shipping cost?"},
                        {"from": "gpt", "value": f"<think>\n{THOUGHT}\n</think>\n\nFree over 50."},
                    ]
                }
            ],
        ),
    )
    import_path(dataset, write_file("pairs.jsonl", [{"prompt": "Return?", "chosen": f"<think>{THOUGHT}</think>Sure.",
                                                     "rejected": "No."}]))
    return dataset


def test_reasoning_imports_in_every_format(reasoning_dataset):
    answers = {}
    for record in Record.objects.filter(dataset=reasoning_dataset):
        answer = record.chosen if record.kind == Record.Kind.PREFERENCE else record.messages[-1]
        answers[answer["content"]] = answer.get("reasoning_content")
    assert answers == {"It ships tomorrow.": THOUGHT, "Yes.": THOUGHT, "Free over 50.": THOUGHT, "Sure.": THOUGHT}


def test_reasoning_exports_to_trl_jsonl_and_the_hugging_face_folder(reasoning_dataset, tmp_path):
    from datasets import load_from_disk

    version = dataset_version_freeze(dataset=reasoning_dataset, seed=1)
    version_export_jsonl(version, split=None, path=tmp_path / "all.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()]
    thought = [
        message.get("reasoning_content")
        for row in rows
        for key in ("messages", "chosen")
        for message in row.get(key, [])
        if message["role"] == "assistant"
    ]
    assert thought == [THOUGHT] * 4

    version_export_hf_zip(version, path=tmp_path / "hf.zip")
    with zipfile.ZipFile(tmp_path / "hf.zip") as archive:
        archive.extractall(tmp_path / "hf")
    exported = load_from_disk(str(tmp_path / "hf"))
    found = [message["reasoning_content"] for split in exported.values() for row in split
             for key in ("messages", "chosen") for message in (row.get(key) or []) if message["role"] == "assistant"]
    assert sorted(found) == [THOUGHT] * 4


def test_the_conversation_viewer_shows_the_reasoning_apart(client, users, reasoning_dataset):
    client.force_login(users["ml_engineer"])
    content = client.get(reverse("datahub:dataset-detail", args=[reasoning_dataset.pk])).content.decode()
    assert content.count('<details class="reasoning"><summary>Reasoning</summary>') == 4
    assert f'<div class="reasoning-text">{THOUGHT}</div></details>It ships tomorrow.' in content
