"""Export round trip: the exported JSONL rows are exactly trl_row of the version's records, and read back in."""

import json

from datahub.export import trl_row, version_entries, version_export_jsonl
from datahub.models import Record
from datahub.services.datasets import dataset_create
from datahub.services.versions import dataset_version_freeze
from datahub.tests.fixtures import alpaca_rows

TOOLS = [{"type": "function", "function": {"name": "refund", "parameters": {"type": "object"}}}]


def mixed_dataset(workspace, write_file, import_path):
    """A dataset holding conversations (one with tools), preference pairs and KTO rows."""
    dataset = dataset_create(workspace=workspace, name="Mixed")
    chats = [
        {"messages": [{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["output"]}]}
        for r in alpaca_rows(20)
    ]
    chats.append(
        {
            "messages": [{"role": "user", "content": "Refund order 7"}, {"role": "assistant", "content": "Done."}],
            "tools": TOOLS,
        }
    )
    import_path(dataset, write_file("chats.jsonl", chats))
    prefs = [{"prompt": f"Rate {n}", "chosen": f"Kind {n}", "rejected": f"Rude {n}"} for n in range(10)]
    import_path(dataset, write_file("prefs.jsonl", prefs))
    kto = [
        {
            "messages": [{"role": "user", "content": f"Hi {n}"}, {"role": "assistant", "content": f"Yo {n}"}],
            "label": n % 2 == 0,
        }
        for n in range(10)
    ]
    import_path(dataset, write_file("kto.jsonl", kto))
    return dataset


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_export_rows_equal_trl_rows(workspace, write_file, import_path, tmp_path):
    dataset = mixed_dataset(workspace, write_file, import_path)
    version = dataset_version_freeze(dataset=dataset, seed=5)
    out = tmp_path / "all.jsonl"
    assert version_export_jsonl(version, split=None, path=out) == 41
    exported = read_jsonl(out)
    assert exported == [trl_row(entry.record) for entry in version_entries(version)]
    kinds = {tuple(sorted(row)) for row in exported}
    assert kinds == {
        ("messages",),
        ("messages", "tools"),
        ("chosen", "prompt", "rejected"),
        ("completion", "label", "prompt"),
    }
    preference = next(row for row in exported if "chosen" in row)
    assert preference["chosen"][0]["role"] == "assistant" and preference["prompt"][0]["role"] == "user"


def test_export_one_split(workspace, write_file, import_path, tmp_path):
    dataset = mixed_dataset(workspace, write_file, import_path)
    version = dataset_version_freeze(dataset=dataset, seed=5)
    for split in ("train", "validation", "test"):
        out = tmp_path / f"{split}.jsonl"
        assert version_export_jsonl(version, split=split, path=out) == version.counts[split]
        assert read_jsonl(out) == [trl_row(entry.record) for entry in version_entries(version, split)]


def test_exported_file_imports_back_to_the_same_records(workspace, write_file, import_path, tmp_path):
    # One kind per dataset: an import file holds one format.
    rows_by_kind = {
        "sft": alpaca_rows(15),
        "preference": [{"prompt": f"Rate {n}", "chosen": f"Kind {n}", "rejected": f"Rude {n}"} for n in range(8)],
        "kto": [
            {
                "messages": [{"role": "user", "content": f"Hi {n}"}, {"role": "assistant", "content": f"Yo {n}"}],
                "label": n % 3 == 0,
            }
            for n in range(9)
        ],
    }
    for kind, rows in rows_by_kind.items():
        original = dataset_create(workspace=workspace, name=f"{kind} original")
        import_path(original, write_file(f"{kind}.jsonl", rows))
        out = tmp_path / f"{kind}-export.jsonl"
        version_export_jsonl(dataset_version_freeze(dataset=original), split=None, path=out)
        copy = dataset_create(workspace=workspace, name=f"{kind} copy")
        job = import_path(copy, out)
        assert (job.status, job.created_count) == ("succeeded", len(rows)), job.error
        assert set(Record.objects.filter(dataset=copy).values_list("content_hash", flat=True)) == \
            set(Record.objects.filter(dataset=original).values_list("content_hash", flat=True))


def test_prompt_completion_shape(workspace, write_file, import_path, tmp_path, api_for, users):
    dataset = mixed_dataset(workspace, write_file, import_path)
    version = dataset_version_freeze(dataset=dataset, seed=5)
    out = tmp_path / "pc.jsonl"
    assert version_export_jsonl(version, split=None, path=out, shape="prompt_completion") == 41
    exported = read_jsonl(out)
    assert exported == [trl_row(entry.record, shape="prompt_completion") for entry in version_entries(version)]
    kinds = {tuple(sorted(row)) for row in exported}
    assert kinds == {("completion", "prompt"), ("completion", "prompt", "tools"), ("chosen", "prompt", "rejected"),
                     ("completion", "label", "prompt")}
    first = next(row for row in exported if set(row) == {"prompt", "completion"})
    assert first["completion"][0]["role"] == "assistant" and first["prompt"][-1]["role"] == "user"
    response = api_for(users["ml_engineer"]).get(f"/api/v1/versions/{version.pk}/export/?shape=prompt_completion")
    assert response["Content-Disposition"] == 'attachment; filename="mixed-v1-prompt-completion.jsonl"'
    assert [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()] == exported
    bad = api_for(users["ml_engineer"]).get(f"/api/v1/versions/{version.pk}/export/?shape=csv")
    assert (bad.status_code, bad.json()["where"]) == (400, "shape")


def test_hugging_face_datasets_folder_zip(workspace, write_file, import_path, tmp_path, client, users):
    import zipfile

    from datasets import load_from_disk
    from django.urls import reverse

    dataset = dataset_create(workspace=workspace, name="Chats")
    import_path(dataset, write_file("a.jsonl", alpaca_rows(40)))
    version = dataset_version_freeze(dataset=dataset, seed=4)
    client.force_login(users["ml_engineer"])
    response = client.get(reverse("datahub:version-export-hf", args=[version.pk]))
    assert response["Content-Disposition"] == 'attachment; filename="chats-v1-hf-datasets.zip"'
    archive = tmp_path / "hf.zip"
    archive.write_bytes(b"".join(response.streaming_content))
    zipfile.ZipFile(archive).extractall(tmp_path / "hf")
    loaded = load_from_disk(str(tmp_path / "hf"))
    assert {split: len(rows) for split, rows in loaded.items()} == {s: n for s, n in version.counts.items() if n}
    assert loaded["train"].column_names == ["messages"]
    assert loaded["train"][0]["messages"] == trl_row(version_entries(version, "train").first().record)["messages"]
