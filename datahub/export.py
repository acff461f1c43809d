"""Dataset versions out, in TRL's own formats, streamed.

sft        {"messages": [...]} (+ "tools")                       → SFTTrainer
preference {"prompt": [...], "chosen": [msg], "rejected": [msg]}  → DPOTrainer (conversational)
kto        {"prompt": [...], "completion": [msg], "label": bool}  → KTOTrainer
"""

import json
from collections.abc import Iterator
from pathlib import Path

from datahub.models import DatasetVersion, Record, VersionRecord


def trl_row(record: Record) -> dict:
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


def version_rows(version: DatasetVersion, split: str | None = None) -> Iterator[dict]:
    for entry in version_entries(version, split).iterator(chunk_size=2000):
        yield trl_row(entry.record)


def version_jsonl_lines(version: DatasetVersion, split: str | None = None) -> Iterator[str]:
    for row in version_rows(version, split):
        yield json.dumps(row, ensure_ascii=False) + "\n"


def version_export_jsonl(version: DatasetVersion, *, split: str | None, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for line in version_jsonl_lines(version, split):
            out.write(line)
            count += 1
    return count
