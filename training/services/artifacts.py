import zipfile
from collections.abc import Iterator

from django.db import transaction
from django.utils.text import slugify

from common.errors import ApplicationError
from common.history import history_record
from training.models import ModelArtifact, TrainingRun
from training.services.base_models import model_directory


@transaction.atomic
def model_artifact_register(*, run: TrainingRun, path: str, kind: str = ModelArtifact.Kind.ADAPTER,
                            is_partial: bool = False) -> ModelArtifact:
    """Record what `run` produced at `path` (relative to the storage root, or absolute), with its lineage: base model
    and data.

    A run has at most one artifact; registering again returns the one already there.
    """
    existing = ModelArtifact.objects.filter(run=run).first()
    if existing is not None:
        return existing
    needed = "adapter_config.json" if kind == ModelArtifact.Kind.ADAPTER else "config.json"
    if not (model_directory(path) / needed).is_file():
        raise ApplicationError(f"no {needed} in {model_directory(path)}", where="path")
    artifact = ModelArtifact.objects.create(workspace=run.workspace, name=run.name, run=run, base_model=run.base_model,
                                            dataset_version=run.dataset_version, kind=kind, path=path,
                                            is_partial=is_partial)
    history_record(actor=None, target=artifact, verb="registered",
                   after={"run": run.pk, "kind": kind, "path": path, "base_model": run.base_model_id,
                          "dataset_version": run.dataset_version_id, "is_partial": is_partial})
    return artifact


class _ChunkSink:
    """A write-only, unseekable file for zipfile that hands back what was written since the last take()."""

    def __init__(self):
        self.chunks: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.chunks = b"".join(self.chunks), []
        return data


def model_artifact_zip_stream(*, artifact: ModelArtifact, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
    """The artifact's directory as a zip archive, produced piece by piece (never whole in memory or on disk).

    Weights are stored uncompressed (they do not shrink); the names inside are relative to the directory, under a
    folder named after the artifact. Raises ApplicationError when the directory is gone.
    """
    root = model_directory(artifact.path)
    if not root.is_dir():
        raise ApplicationError(f"the files of model artifact {artifact.name!r} are gone from {root}", where="path")
    return _zip_chunks(root=root, folder=slugify(artifact.name) or f"artifact-{artifact.pk}", chunk_size=chunk_size)


def _zip_chunks(*, root, folder: str, chunk_size: int) -> Iterator[bytes]:
    files = sorted(path for path in root.rglob("*") if path.is_file())
    sink = _ChunkSink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path in files:
            info = zipfile.ZipInfo.from_file(path, arcname=f"{folder}/{path.relative_to(root).as_posix()}")
            with open(path, "rb") as source, archive.open(info, mode="w", force_zip64=True) as target:
                while chunk := source.read(chunk_size):
                    target.write(chunk)
                    yield sink.take()
            yield sink.take()
    yield sink.take()


def model_artifact_zip_name(artifact: ModelArtifact) -> str:
    return f"{slugify(artifact.name) or 'artifact'}-{artifact.pk}.zip"
