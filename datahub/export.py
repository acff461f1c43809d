"""Dataset versions out, in TRL's own formats, streamed.

sft        {"messages": [...]} (+ "tools")                       → SFTTrainer
preference {"prompt": [...], "chosen": [msg], "rejected": [msg]}  → DPOTrainer (conversational)
kto        {"prompt": [...], "completion": [msg], "label": bool}  → KTOTrainer
"""

import json
from collections.abc import Iterator
from pathlib import Path

from django.db import connection

from datahub.models import DatasetVersion, Record, VersionRecord

# Rows fetched per round trip from the PostgreSQL export cursor.
EXPORT_PAGE = 5000


SHAPES = ("messages", "prompt_completion")


def trl_row(record: Record, *, shape: str = "messages") -> dict:
    """The record as one TRL row. `shape` matters for conversations only: "messages" (the whole conversation) or
    "prompt_completion" (the turns before the final answer, and that answer; TRL's conversational prompt-completion)."""
    if record.kind == Record.Kind.SFT and shape == "prompt_completion":
        row = {"prompt": record.messages[:-1], "completion": record.messages[-1:]}
        if record.tools:
            row["tools"] = record.tools
        return row
    if record.kind == Record.Kind.PREFERENCE:
        return {"prompt": record.messages, "chosen": [record.chosen], "rejected": [record.rejected]}
    if record.kind == Record.Kind.KTO:
        return {"prompt": record.messages[:-1], "completion": [record.messages[-1]], "label": record.label}
    row = {"messages": record.messages}
    if record.tools:
        row["tools"] = record.tools
    return row


def version_entries(version: DatasetVersion, split: str | None = None):
    entries = VersionRecord.objects.filter(version=version).select_related("record").order_by("pk")
    return entries.filter(split=split) if split else entries


def version_rows(version: DatasetVersion, split: str | None = None, *, shape: str = "messages") -> Iterator[dict]:
    for entry in version_entries(version, split).iterator(chunk_size=2000):
        yield trl_row(entry.record, shape=shape)


def version_jsonl_lines(version: DatasetVersion, split: str | None = None, *, shape: str = "messages") -> Iterator[str]:
    """The version as TRL JSONL text in entry order, each piece holding whole lines (one, or a page). On PostgreSQL the
    database writes each row's JSON (the same object trl_row builds), so Python only passes text along."""
    if connection.vendor == "postgresql":
        yield from _postgres_jsonl_lines(version, split, shape)
        return
    for row in version_rows(version, split, shape=shape):
        yield json.dumps(row, ensure_ascii=False) + "\n"


def _postgres_jsonl_lines(version: DatasetVersion, split: str | None, shape: str) -> Iterator[str]:
    entries, records = VersionRecord._meta.db_table, Record._meta.db_table
    tools = ("CASE WHEN jsonb_typeof(r.tools) = 'array' AND jsonb_array_length(r.tools) > 0 "
             "THEN jsonb_build_object('tools', r.tools) ELSE '{}'::jsonb END")
    conversation = (
        f"jsonb_build_object('prompt', r.messages - -1, 'completion', jsonb_build_array(r.messages -> -1)) || {tools}"
        if shape == "prompt_completion"
        else f"jsonb_build_object('messages', r.messages) || {tools}"
    )
    row_json = (
        "CASE r.kind "
        "WHEN 'preference' THEN jsonb_build_object('prompt', r.messages, 'chosen', jsonb_build_array(r.chosen), "
        "'rejected', jsonb_build_array(r.rejected)) "
        "WHEN 'kto' THEN jsonb_build_object('prompt', r.messages - -1, 'completion', jsonb_build_array(r.messages -> "
        "-1), "
        "'label', r.label) "
        f"ELSE {conversation} END::text"
    )
    split_filter = "AND e.split = %s " if split else ""
    sql = (f"SELECT {row_json} FROM {entries} e JOIN {records} r ON r.id = e.record_id "
           f"WHERE e.version_id = %s {split_filter}ORDER BY e.id")
    # One query through a server-side cursor (Django's chunked cursor): the database plans the join once and
    # hands rows over page by page, so memory stays flat.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [version.pk, *([split] if split else [])])
        while page := cursor.fetchmany(EXPORT_PAGE):
            yield "".join(text + "\n" for (text,) in page)


def version_export_jsonl(version: DatasetVersion, *, split: str | None, path: Path, shape: str = "messages") -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for text in version_jsonl_lines(version, split, shape=shape):
            out.write(text)
            # JSON escapes newlines inside strings, so each "\n" ends exactly one row.
            count += text.count("\n")
    return count


def version_export_hf_zip(version: DatasetVersion, *, path: Path, shape: str = "messages") -> int:
    """The version as a zipped Hugging Face `datasets` folder (DatasetDict.save_to_disk, one Dataset per non-empty
    split), written to `path`; returns the number of rows. `datasets.load_from_disk` reads the unzipped folder.

    Each split goes through its TRL JSONL export first, so the columns are exactly the JSONL's.
    """
    import shutil
    import tempfile

    from datasets import Dataset, DatasetDict

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        splits, total = {}, 0
        for split in ("train", "validation", "test"):
            if not version.counts.get(split):
                continue
            jsonl = work / f"{split}.jsonl"
            total += version_export_jsonl(version, split=split, path=jsonl, shape=shape)
            splits[split] = Dataset.from_json(str(jsonl), cache_dir=str(work / "cache"))
        saved = work / "dataset"
        DatasetDict(splits).save_to_disk(str(saved))
        path.parent.mkdir(parents=True, exist_ok=True)
        archive = shutil.make_archive(str(work / "archive"), "zip", root_dir=saved)
        shutil.move(archive, path)
    return total
