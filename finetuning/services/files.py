"""Training files: an upload becomes a dataset of its own with one frozen version (every example in the train split),
its records from the workspace's "OpenAI API uploads" source, each keeping its original line. Deleting a file removes
the bytes and the file object; the dataset stays for the runs and models that came from it (lineage)."""

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.db import transaction

from accounts.models import Workspace
from common.errors import ApplicationError
from common.history import history_record
from common.storage import storage_path, workspace_storage_relative
from datahub.models import DatasetVersion, Record, Source, VersionRecord
from datahub.selectors import source_by_name
from datahub.services.datasets import dataset_create, source_create
from datahub.services.records import record_build, records_insert_ids
from datahub.services.versions import dataset_version_create
from finetuning.formats import training_file_read
from finetuning.models import FineTuningFile

PURPOSE = "fine-tune"
SOURCE_NAME = "OpenAI API uploads"
MAX_BYTES = 512 * 1024 * 1024
FILENAME_MAX = 255


def public_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def _source(workspace: Workspace, user) -> Source:
    source = source_by_name(workspace=workspace, name=SOURCE_NAME)
    if source is None:
        source = source_create(workspace=workspace, name=SOURCE_NAME, kind=Source.Kind.OPENAI_API, created_by=user,
                               description="Files uploaded through the OpenAI-compatible /v1/files endpoint.")
    return source


@transaction.atomic
def fine_tuning_file_create(*, workspace: Workspace, filename: str, data: bytes, purpose: str = PURPOSE,
                            created_by=None) -> FineTuningFile:
    """Check an uploaded training file (finetuning.formats: the error names the line and the field) and keep it as a
    dataset "<filename> (<file id>)" with version 1 frozen from it. All or nothing."""
    if purpose != PURPOSE:
        raise ApplicationError(f"purpose must be '{PURPOSE}'; this server takes training files only, not {purpose!r}",
                               where="purpose", code="invalid_purpose")
    filename = Path((filename or "").replace("\\", "/")).name.strip() or "training.jsonl"
    filename = filename[-FILENAME_MAX:]
    if len(data) > MAX_BYTES:
        raise ApplicationError(
            f"the file is {len(data)} bytes; the limit is {MAX_BYTES}", where="file", code="file_too_large"
        )
    kind, rows = training_file_read(data)
    identifier = public_id("file")
    user = created_by if created_by is not None and created_by.is_authenticated else None
    source = _source(workspace, user)
    dataset = dataset_create(workspace=workspace, name=f"{filename} ({identifier})"[:200], created_by=user,
                             description=f"Uploaded through the OpenAI-compatible API as {identifier}.")
    records = [
        record_build(dataset=dataset, clean=clean, source=source, raw=row, origin="openai_file", line_number=line)
        for line, row, clean in rows
    ]
    ids = records_insert_ids(dataset=dataset, records=records)
    # A line repeated in the file is one record: a version holds each record once.
    record_ids = list(dict.fromkeys(ids[record.content_hash] for record in records))
    version = dataset_version_create(dataset=dataset, entries=[(pk, "train", []) for pk in record_ids],
                                     operation=DatasetVersion.Operation.OPENAI_FILE, created_by=user,
                                     ratios={"train": 1.0, "validation": 0.0, "test": 0.0},
                                     operation_detail={"file_id": identifier, "filename": filename, "lines": len(rows)},
                                     note=f"OpenAI file {identifier}")
    relative = f"{workspace_storage_relative(workspace.pk)}/openai-files/{identifier}.jsonl"
    file = FineTuningFile.objects.create(public_id=identifier, workspace=workspace, filename=filename, purpose=purpose,
                                         size=len(data), path=relative, kind=kind, rows=len(rows), dataset=dataset,
                                         version=version, created_by=user)
    history_record(
        actor=created_by,
        target=file,
        verb="created",
        after={"filename": filename, "kind": kind, "rows": len(rows), "dataset": dataset.pk, "version": version.pk},
    )
    # Written last, so nothing before it can fail and leave the bytes without their file object.
    storage_path(relative).write_bytes(data)
    return file


def fine_tuning_file_content(*, file: FineTuningFile) -> bytes:
    path = Path(settings.STORAGE_ROOT) / file.path
    return path.read_bytes() if path.is_file() else b""


@transaction.atomic
def fine_tuning_file_delete(*, file: FineTuningFile, deleted_by=None) -> None:
    """Remove the file object and its bytes (after commit). Its dataset and version stay: runs and models made from
    them keep their lineage, and the UI can still use them."""
    path = Path(settings.STORAGE_ROOT) / file.path
    history_record(actor=deleted_by, target=file, verb="deleted",
                   after={"filename": file.filename, "dataset": file.dataset_id, "version": file.version_id})
    file.delete()
    transaction.on_commit(lambda: path.unlink(missing_ok=True))


def _openai_row(record: Record) -> dict:
    """A record in OpenAI's training format (the inverse of finetuning.formats)."""
    if record.kind == Record.Kind.PREFERENCE:
        return {"input": {"messages": record.messages}, "preferred_output": [record.chosen],
                "non_preferred_output": [record.rejected]}
    row = {"messages": record.messages}
    if record.tools:
        row["tools"] = record.tools
    return row


@transaction.atomic
def fine_tuning_file_from_version(*, version: DatasetVersion, created_by=None) -> FineTuningFile:
    """A training file that IS an existing frozen version (the page's "pick a version"): no new dataset; its bytes are
    the version's train examples in OpenAI's format, so /v1/files/{id}/content returns them. The version's own
    validation split, if any, gives the job its validation loss."""
    kinds = set(VersionRecord.objects.filter(version=version, split=VersionRecord.Split.TRAIN)
                .values_list("record__kind", flat=True).distinct())
    if kinds not in ({Record.Kind.SFT}, {Record.Kind.PREFERENCE}):
        raise ApplicationError(
            f"dataset version {version} must hold only conversations or only preference pairs in its "
            "train split to fine-tune on",
            where="dataset_version",
        )
    kind = "dpo" if kinds == {Record.Kind.PREFERENCE} else "supervised"
    entries = (VersionRecord.objects.filter(version=version, split=VersionRecord.Split.TRAIN).select_related("record")
               .order_by("pk"))
    data = "".join(json.dumps(_openai_row(entry.record), ensure_ascii=False) + "\n" for entry in entries).encode(
        "utf-8"
    )
    identifier = public_id("file")
    workspace = version.dataset.workspace
    user = created_by if created_by is not None and created_by.is_authenticated else None
    relative = f"{workspace_storage_relative(workspace.pk)}/openai-files/{identifier}.jsonl"
    file = FineTuningFile.objects.create(
        public_id=identifier,
        workspace=workspace,
        filename=f"{version}.jsonl",
        size=len(data),
        path=relative,
        kind=kind,
        rows=version.counts.get("train", 0),
        dataset=version.dataset,
        version=version,
        created_by=user,
    )
    history_record(actor=created_by, target=file, verb="created", after={"from_version": version.pk, "kind": kind})
    storage_path(relative).write_bytes(data)
    return file
