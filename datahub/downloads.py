"""The streamed TRL JSONL download of a version, shared by the API and the browser views."""

from collections.abc import Iterator

from django.http import StreamingHttpResponse
from django.utils.text import slugify

from common.errors import ApplicationError
from datahub.export import version_jsonl_lines
from datahub.models import DatasetVersion
from datahub.splits import SPLITS


def export_split_check(split: str | None) -> str | None:
    """None or "" mean every split."""
    if not split:
        return None
    if split not in SPLITS:
        raise ApplicationError(f"unknown split {split!r}; choose train, validation or test", where="split")
    return split


def version_export_filename(version: DatasetVersion, split: str | None) -> str:
    base = slugify(version.dataset.name) or "dataset"
    return f"{base}-v{version.number}{'-' + split if split else ''}.jsonl"


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


def version_jsonl_response(version: DatasetVersion, split: str | None) -> StreamingHttpResponse:
    """Rows are generated while the response is sent, so a million-record version never sits in memory."""
    response = StreamingHttpResponse(_blocks(version_jsonl_lines(version, split)), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{version_export_filename(version, split)}"'
    return response
