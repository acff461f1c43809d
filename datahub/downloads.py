"""The streamed TRL JSONL download of a version, shared by the API and the browser views."""

import csv
import io
from collections.abc import Iterator

from django.http import FileResponse, StreamingHttpResponse
from django.utils.text import slugify

from common.errors import ApplicationError
from datahub.export import SHAPES, version_export_hf_zip, version_jsonl_lines
from datahub.models import DatasetVersion, ImportJob
from datahub.selectors import import_job_errors
from datahub.splits import SPLITS


def export_split_check(split: str | None) -> str | None:
    """None or "" mean every split."""
    if not split:
        return None
    if split not in SPLITS:
        raise ApplicationError(f"unknown split {split!r}; choose train, validation or test", where="split")
    return split


def export_shape_check(shape: str | None) -> str:
    """None or "" mean the whole conversation ("messages")."""
    if not shape:
        return "messages"
    if shape not in SHAPES:
        raise ApplicationError(f"unknown shape {shape!r}; choose messages or prompt_completion", where="shape")
    return shape


def version_export_filename(version: DatasetVersion, split: str | None, shape: str = "messages") -> str:
    base = slugify(version.dataset.name) or "dataset"
    suffix = "-prompt-completion" if shape == "prompt_completion" else ""
    return f"{base}-v{version.number}{'-' + split if split else ''}{suffix}.jsonl"


def _blocks(lines: Iterator[str], size: int = 256 * 1024) -> Iterator[bytes]:
    """Group lines into blocks of about `size` bytes: one write per line would dominate the cost of sending."""
    block, length = [], 0
    for line in lines:
        data = line.encode()
        block.append(data)
        length += len(data)
        if length >= size:
            yield b"".join(block)
            block, length = [], 0
    if block:
        yield b"".join(block)


def version_jsonl_response(
    version: DatasetVersion, split: str | None, shape: str = "messages"
) -> StreamingHttpResponse:
    """Rows are generated while the response is sent, so a million-record version never sits in memory."""
    response = StreamingHttpResponse(_blocks(version_jsonl_lines(version, split, shape=shape)),
                                     content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{version_export_filename(version, split, shape)}"'
    return response


def _csv_lines(rows: Iterator[tuple]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def import_errors_response(job: ImportJob) -> StreamingHttpResponse:
    """The rows an import left out, as CSV (line, field, reason), streamed."""

    def rows() -> Iterator[tuple]:
        yield ("line", "field", "reason")
        for error in import_job_errors(job=job).iterator(chunk_size=2000):
            yield (error.line, error.field, error.reason)

    response = StreamingHttpResponse(_blocks(_csv_lines(rows())), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


def version_hf_response(version: DatasetVersion, shape: str = "messages") -> FileResponse:
    """The version as a zipped Hugging Face datasets folder. Built in a temporary file first (save_to_disk writes
    Arrow files, which cannot be streamed while written); the file is removed once the response is closed."""
    import tempfile
    from pathlib import Path

    handle = tempfile.NamedTemporaryFile(suffix=".zip", delete=False)
    handle.close()
    path = Path(handle.name)
    version_export_hf_zip(version, path=path, shape=shape)
    stream = open(path, "rb")
    path.unlink()  # the open handle keeps the data until the response closes it
    base = version_export_filename(version, None, shape).removesuffix(".jsonl")
    return FileResponse(stream, as_attachment=True, filename=f"{base}-hf-datasets.zip", content_type="application/zip")
