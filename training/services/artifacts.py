from django.db import transaction

from common.errors import ApplicationError
from common.history import history_record
from training.models import ModelArtifact, TrainingRun
from training.services.base_models import model_directory


@transaction.atomic
def model_artifact_register(*, run: TrainingRun, path: str, kind: str = ModelArtifact.Kind.ADAPTER) -> ModelArtifact:
    """Record what `run` produced at `path` (relative to the storage root, or absolute), with its lineage: base model and data.

    A run has at most one artifact; registering again returns the one already there.
    """
    existing = ModelArtifact.objects.filter(run=run).first()
    if existing is not None:
        return existing
    if not (model_directory(path) / "adapter_config.json").is_file() and kind == ModelArtifact.Kind.ADAPTER:
        raise ApplicationError(f"no adapter_config.json in {model_directory(path)}", where="path")
    artifact = ModelArtifact.objects.create(workspace=run.workspace, name=run.name, run=run, base_model=run.base_model,
                                            dataset_version=run.dataset_version, kind=kind, path=path)
    history_record(actor=None, target=artifact, verb="registered",
                   after={"run": run.pk, "kind": kind, "path": path, "base_model": run.base_model_id,
                          "dataset_version": run.dataset_version_id})
    return artifact
