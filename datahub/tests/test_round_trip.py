"""Every real public file under ../shared/data/sft and ../shared/data/preference: import → freeze → export → TRL.

The export is read back with the Hugging Face `datasets` JSON loader (what TRL trainers are given) and every row
goes through TRL's own `maybe_apply_chat_template` with a tiny chat tokenizer.
"""

import json

import pytest

from datahub.export import version_export_jsonl
from datahub.services.versions import dataset_version_freeze
from tests.shared_data import SHARED_DATA, shared_data_absent

FOLDERS = ("sft", "preference")
REAL_FILES = sorted(str(p.relative_to(SHARED_DATA)) for folder in FOLDERS if (SHARED_DATA / folder).is_dir()
                    for p in (SHARED_DATA / folder).rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl"))
# Expected kinds, so a file silently read as the wrong format fails.
EXPECTED_COLUMNS = {
    "sft": {"messages"},
    "preference": {"prompt", "chosen", "rejected"},
    "kto": {"prompt", "completion", "label"},
}


@pytest.fixture(scope="module")
def chat_tokenizer():
    from training.tiny_model import tokenizer_train

    return tokenizer_train(texts=["hello world", "你好，世界", "tool call weather"] * 20, vocab_size=300)


def test_the_shared_folders_are_found():
    if not (SHARED_DATA / "sft").is_dir():
        shared_data_absent(SHARED_DATA / "sft")
    assert len(REAL_FILES) == 14


@pytest.mark.parametrize("relative", REAL_FILES or ["(none)"])
def test_real_file_round_trips_into_trl(
    relative, workspace, dataset, import_path, shared_data, tmp_path, chat_tokenizer
):
    from datasets import load_dataset
    from trl.data_utils import maybe_apply_chat_template

    path = shared_data(relative)
    job = import_path(dataset, path)
    assert (job.status, job.error, job.invalid_count) == ("succeeded", "", 0)
    assert job.created_count + job.duplicate_count == job.total > 0
    version = dataset_version_freeze(dataset=dataset, seed=1)
    out = tmp_path / "export.jsonl"
    assert version_export_jsonl(version, split=None, path=out) == job.created_count
    loaded = load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert len(loaded) == job.created_count
    kind = "kto" if "label" in loaded.column_names else "preference" if "chosen" in loaded.column_names else "sft"
    assert EXPECTED_COLUMNS[kind] <= set(loaded.column_names)
    first_exported = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    for row in loaded.select(range(min(len(loaded), 40))):
        tools = json.loads(row["tools"]) if isinstance(row.get("tools"), str) else row.get("tools")
        example = {k: v for k, v in row.items() if k != "tools"}
        rendered = maybe_apply_chat_template(example, chat_tokenizer, tools=_without_nulls(tools))
        text_keys = {"sft": ["text"], "preference": ["prompt", "chosen", "rejected"], "kto": ["prompt", "completion"]}[
            kind
        ]
        assert all(isinstance(rendered[k], str) and rendered[k] for k in text_keys)
    assert set(first_exported) >= EXPECTED_COLUMNS[kind]


def _without_nulls(value):
    """Arrow fills keys a row lacks with None when it unifies row schemas; the original JSON had no such keys."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
