"""Background jobs: each is named after the service it runs and takes its ids as keywords; a job queued under a name
from before common.0002 still runs."""

import importlib
import inspect

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_tasks.base import Task
from django_tasks_db.models import DBTaskResult

RENAMES = importlib.import_module("common.migrations.0002_background_job_names").RENAMED
MISSING = 10**9  # no row has this id: each job finds nothing and returns, as it does for a row deleted while queued


def _tasks() -> dict[str, Task]:
    found = {}
    for app in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{app.name}.tasks")
        except ModuleNotFoundError as error:
            if error.name != f"{app.name}.tasks":
                raise
            continue
        found.update({value.module_path: value for value in vars(module).values() if isinstance(value, Task)})
    return found


def test_every_job_is_named_after_the_service_it_runs_and_takes_ids_as_keywords():
    tasks = _tasks()
    assert sorted(path.rsplit(".", 1)[1] for path in tasks) == [
        "ai_run_execute_task",
        "alert_deliver_task",
        "augmentation_run_execute_task",
        "dedupe_run_execute_task",
        "general_eval_run_task",
        "grading_run_execute_task",
        "import_job_run_task",
        "judge_run_task",
        "mix_run_execute_task",
        "model_artifact_merge_task",
        "model_export_run_task",
        "monitoring_check_task",
        "scorecard_compute_task",
        "study_generate_task",
        "training_run_supervise_task",
    ]
    for path, task in tasks.items():
        service = task.name.removesuffix("_task")
        assert task.name.endswith("_task") and f"{service}(" in inspect.getsource(task.func), path
        parameters = inspect.signature(task.func).parameters.values()
        assert [p.name for p in parameters if p.kind != inspect.Parameter.KEYWORD_ONLY] == [], path
        # Ids of rows, and for a job about one day (monitoring_check_task) the day as an ISO date: nothing else.
        assert all(p.name.endswith("_id") or p.name == "day" for p in parameters), path


@pytest.mark.django_db(transaction=True)
def test_jobs_queued_under_their_old_names_still_run(run_jobs):
    """Rows as the worker found them before the rename (one training job with its id stored by position), then the
    migration, then the real worker: every job runs."""
    executor = MigrationExecutor(connection)
    executor.migrate([("common", "0001_initial")])
    try:
        tasks = _tasks()
        for old, new in RENAMES.items():
            task = tasks[new]
            ids = {name: MISSING for name in inspect.signature(task.func).parameters}
            result = task.enqueue(**ids)
            stored = (
                {"args": [MISSING], "kwargs": {}}
                if old == "training.tasks.training_run_execute"
                else {"args": [], "kwargs": ids}
            )
            DBTaskResult.objects.filter(pk=result.id).update(task_path=old, args_kwargs=stored)
    finally:
        MigrationExecutor(connection).migrate([("common", "0002_background_job_names")])
    assert sorted(DBTaskResult.objects.values_list("task_path", flat=True)) == sorted(RENAMES.values())
    assert DBTaskResult.objects.get(task_path="training.tasks.training_run_supervise_task").args_kwargs == {
        "args": [], "kwargs": {"run_id": MISSING}}
    run_jobs()
    assert list(DBTaskResult.objects.exclude(status="SUCCESSFUL").values_list("task_path", "status", "traceback")) == []
    assert DBTaskResult.objects.count() == len(RENAMES)
