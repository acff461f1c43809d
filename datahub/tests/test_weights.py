"""OpenAI's "weight": 0 on an assistant message (read, not learned): the canonical record keeps it and checks it where
it is, imports of ordinary JSONL keep it, TRL JSONL and the Hugging Face folder export it, and the conversation
viewer says the turn is not learned."""

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


def two_turns(first_weight=None, second_weight=None) -> list[dict]:
    messages = [{"role": "user", "content": "Where is my order?"}, {"role": "assistant", "content": "Let me check."},
                {"role": "user", "content": "Thanks."}, {"role": "assistant", "content": "It ships tomorrow."}]
    if first_weight is not None:
        messages[1]["weight"] = first_weight
    if second_weight is not None:
        messages[3]["weight"] = second_weight
    return messages


def test_weight_0_is_kept_and_1_is_the_default_not_stored():
    kept = canonical_validate({"messages": two_turns(0, 1)})
    assert kept["messages"][1] == {"role": "assistant", "content": "Let me check.", "weight": 0}
    assert kept["messages"][3] == {"role": "assistant", "content": "It ships tomorrow."}
    assert canonical_validate({"messages": two_turns(1, 1)}) == canonical_validate({"messages": two_turns()})


@pytest.mark.parametrize(
    ("row", "message", "where"),
    [
        ({"messages": two_turns(2)}, "weight must be 0 or 1, not 2", "messages[1].weight"),
        ({"messages": two_turns(True)}, "weight must be 0 or 1, not True", "messages[1].weight"),
        ({"messages": two_turns(None, "0")}, "weight must be 0 or 1, not '0'", "messages[3].weight"),
        (
            {"messages": [{"role": "user", "content": "Hi", "weight": 0}, {"role": "assistant", "content": "Hello"}]},
            "only assistant messages take a weight",
            "messages[0].weight",
        ),
        (
            {"messages": two_turns(0, 0)},
            "every assistant message has weight 0, so nothing would be learned",
            "messages",
        ),
        (
            {
                "kind": "preference",
                "messages": [{"role": "user", "content": "Hi"}],
                "chosen": {"role": "assistant", "content": "Hello", "weight": 0},
                "rejected": {"role": "assistant", "content": "Go away"},
            },
            "the chosen answer is always learned; weight 0 belongs to conversations",
            "chosen.weight",
        ),
        (
            {"kind": "kto", "messages": two_turns(None, 0), "label": True},
            "the completion is always learned; weight 0 belongs to earlier turns",
            "messages[3].weight",
        ),
    ],
)
def test_a_wrong_weight_is_refused_where_it_is(row, message, where):
    with pytest.raises(ApplicationError) as error:
        canonical_validate(row)
    assert (error.value.message, error.value.where) == (message, where)


@pytest.fixture
def weighted_dataset(workspace, write_file, import_path):
    """An ordinary JSONL file of OpenAI chat rows, one first answer of weight 0, imported by the messages reader."""
    dataset = dataset_create(workspace=workspace, name="Weighted")
    import_path(dataset, write_file("chat.jsonl", [{"messages": two_turns(0, 1)}, {"messages": [
        {"role": "user", "content": "Refund?"}, {"role": "assistant", "content": "Yes.", "weight": 1}]}]))
    return dataset


def test_an_openai_chat_jsonl_import_keeps_the_weight(weighted_dataset):
    messages = {
        record.messages[-1]["content"]: record.messages for record in Record.objects.filter(dataset=weighted_dataset)
    }
    assert messages == {
        "It ships tomorrow.": [*two_turns(0)[:3], {"role": "assistant", "content": "It ships tomorrow."}],
        "Yes.": [{"role": "user", "content": "Refund?"}, {"role": "assistant", "content": "Yes."}],
    }


def test_the_weight_exports_to_trl_jsonl_and_the_hugging_face_folder(weighted_dataset, tmp_path):
    from datasets import load_from_disk

    version = dataset_version_freeze(dataset=weighted_dataset, seed=1)
    version_export_jsonl(version, split=None, path=tmp_path / "all.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()]
    weights = sorted(([m.get("weight") for m in row["messages"] if m["role"] == "assistant"] for row in rows), key=len)
    assert weights == [[None], [0, None]]
    version_export_jsonl(version, split=None, path=tmp_path / "pc.jsonl", shape="prompt_completion")
    prompts = [json.loads(line)["prompt"] for line in (tmp_path / "pc.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [0] in [[m["weight"] for m in prompt if "weight" in m] for prompt in prompts]

    version_export_hf_zip(version, path=tmp_path / "hf.zip")
    with zipfile.ZipFile(tmp_path / "hf.zip") as archive:
        archive.extractall(tmp_path / "hf")
    exported = load_from_disk(str(tmp_path / "hf"))
    found = sorted(([m.get("weight") for m in row["messages"] if m["role"] == "assistant"]
                    for split in exported.values() for row in split), key=len)
    assert found == [[None], [0, None]]


def test_the_conversation_viewer_says_the_turn_is_not_learned(client, users, weighted_dataset):
    client.force_login(users["ml_engineer"])
    content = client.get(reverse("datahub:dataset-detail", args=[weighted_dataset.pk])).content.decode()
    badge = (
        '<span class="role">assistant <span class="badge" title="Weight 0: training reads this answer but does not '
        'learn it.">not learned</span></span>Let me check.'
    )
    assert content.count("not learned</span>") == 1 and badge in content
