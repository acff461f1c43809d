"""Fixtures for datahub tests, shared through the root conftest."""

import json
from pathlib import Path

import pytest

from datahub.models import ImportJob
from datahub.services.datasets import dataset_create, source_create
from datahub.services.imports import import_job_create, import_job_run


@pytest.fixture
def write_file(tmp_path):
    """Write a test file: text, bytes, or a list of rows (JSONL, one row per line)."""

    def write(name: str, content, *, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        if isinstance(content, list):
            content = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in content)
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return write


@pytest.fixture
def dataset(workspace):
    return dataset_create(workspace=workspace, name="Support chats")


@pytest.fixture
def source(workspace):
    return source_create(workspace=workspace, name="Help desk", kind="own", quality_tier="A")


@pytest.fixture
def import_path():
    """Import a file synchronously through the real services; returns the finished ImportJob."""

    def run(dataset, path: Path, *, format: str = "auto", source=None, created_by=None, on_progress=None) -> ImportJob:
        job = import_job_create(dataset=dataset, path=path, file_name=path.name, format=format, source=source,
                                created_by=created_by, run_in_background=False)
        return import_job_run(job=job, on_progress=on_progress)

    return run


def staged_records(job: ImportJob) -> int:
    """Records the job holds in staging: the lines of its committed chunks."""
    from datahub.services.import_staging import StagedFile

    return sum(count for _, count in StagedFile(job).chunks(job.staged_bytes))


def staging_left(job: ImportJob) -> bool:
    """Whether anything of the job's staging is left on disk."""
    from datahub.services.import_staging import StagedFile

    return StagedFile(job).path.parent.exists()


def sft_row(question: str, answer: str = "Yes.") -> dict:
    """A canonical one-turn conversation."""
    return {
        "kind": "sft",
        "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
    }


def alpaca_rows(count: int, *, start: int = 0) -> list[dict]:
    """Distinct small Alpaca rows; row i asks about the number start + i."""
    return [
        {"instruction": f"What is {n} + {n}?", "input": "", "output": f"{2 * n}"} for n in range(start, start + count)
    ]
