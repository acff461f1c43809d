"""Background jobs are named after the services they run (`<service>_task`, ids keyword-only); a job queued under an
old name is pointed at the new one, so it still runs.

The database worker imports a queued job by the dotted path stored on its row (django_tasks_db's task_path): a row
still naming a function that no longer exists would fail when picked up and leave its run queued for ever. Only rows
waiting to run (READY) change; a finished row keeps the name it ran under. The dedupe and augmentation jobs also moved
from datahub/ to apps of their own at the top level. Jobs of two tasks that took their ids by
position would have stored them as arguments: they move to keywords, the only way the renamed tasks take them.
"""

from django.db import migrations

RENAMED = {
    "annotation.tasks.ai_run_execute_job": "annotation.tasks.ai_run_execute_task",
    "datahub.tasks.import_job_execute": "datahub.tasks.import_job_run_task",
    "datahub.dedupe.tasks.dedupe_run_execute_job": "dedupe.tasks.dedupe_run_execute_task",
    "datahub.augmentation.tasks.augmentation_run_execute": "augmentation.tasks.augmentation_run_execute_task",
    "datahub.augmentation.tasks.mix_run_execute": "augmentation.tasks.mix_run_execute_task",
    "datahub.augmentation.tasks.grading_run_execute": "augmentation.tasks.grading_run_execute_task",
    "evaluation.tasks.study_generate": "evaluation.tasks.study_generate_task",
    "evaluation.tasks.judge_run": "evaluation.tasks.judge_run_task",
    "training.tasks.training_run_execute": "training.tasks.training_run_supervise_task",
    "training.tasks.model_artifact_merge_execute": "training.tasks.model_artifact_merge_task",
}
POSITIONAL = {
    "training.tasks.training_run_execute": ("run_id",),
    "training.tasks.model_artifact_merge_execute": ("artifact_id", "user_id"),
}


def _rename(apps, schema_editor, names: dict[str, str]) -> None:
    DBTaskResult = apps.get_model("django_tasks_database", "DBTaskResult")
    queued = DBTaskResult.objects.using(schema_editor.connection.alias).filter(status="READY", task_path__in=names)
    for row in queued:
        args, kwargs = row.args_kwargs.get("args") or [], row.args_kwargs.get("kwargs") or {}
        if args and row.task_path in POSITIONAL:
            kwargs = {**dict(zip(POSITIONAL[row.task_path], args, strict=False)), **kwargs}
            args = []
        row.task_path = names[row.task_path]
        row.args_kwargs = {"args": args, "kwargs": kwargs}
        row.save(update_fields=["task_path", "args_kwargs"])


def forward(apps, schema_editor):
    _rename(apps, schema_editor, RENAMED)


def backward(apps, schema_editor):
    # The old functions take their ids as keywords too, so the arguments stay as they are.
    _rename(apps, schema_editor, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):

    dependencies = [
        ("common", "0001_initial"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(forward, backward)]
