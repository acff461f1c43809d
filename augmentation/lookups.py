"""Name lookups for the augment, mix_sources and grade_source commands; each fails with a CommandError naming the
option."""

import time

from django.core.management.base import CommandError

from datahub.models import Dataset, DatasetVersion, Source
from datahub.selectors import source_by_name


def version_of(dataset: Dataset, number: int | None, *, option: str = "--version") -> DatasetVersion:
    versions = dataset.versions.order_by("-number")
    version = versions.filter(number=number).first() if number is not None else versions.first()
    if version is None:
        raise CommandError(f"{option}: dataset {dataset.name!r} has no version {number}" if number is not None
                           else f"{option}: dataset {dataset.name!r} has no version yet (freeze one first)")
    return version


def source_named(workspace, name: str, *, option: str = "--source") -> Source:
    source = source_by_name(workspace=workspace, name=name)
    if source is None:
        raise CommandError(f"{option}: no source named {name!r} in workspace {workspace.name!r}")
    return source


def endpoint_named(workspace, name: str | None):
    if name is None:
        return None
    from llm.selectors import model_endpoint_by_name

    endpoint = model_endpoint_by_name(workspace=workspace, name=name)
    if endpoint is None:
        raise CommandError(f"--endpoint: no model endpoint named {name!r} in workspace {workspace.name!r}")
    return endpoint


def progress_bar(stream, label: str):
    """A one-line progress bar on `stream` (stderr), redrawn in place."""
    started = time.monotonic()

    def report(done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        rate = done / max(time.monotonic() - started, 1e-6)
        stream.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} ({rate:,.1f}/s)", ending="")
        stream.flush()

    return report


def error_text(exc) -> str:
    return f"--{exc.where.replace('_', '-')}: {exc.message}" if exc.where and " " not in exc.where else str(exc)


