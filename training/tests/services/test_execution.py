from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from training.models import TrainingRun
from training.services.execution import MetricsTail, log_tail, training_runs_fail_stale
from training.services.runs import training_run_create, training_run_start


def test_stale_running_runs_are_failed_and_live_ones_kept(workspace, tiny_base_model, sft_version, capsys):
    def running(name):
        return training_run_start(run=training_run_create(workspace=workspace, name=name, base_model=tiny_base_model,
                                                          dataset_version=sft_version))

    dead, alive = running("dead"), running("alive")
    TrainingRun.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))

    assert [run.pk for run in training_runs_fail_stale()] == [dead.pk]

    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == TrainingRun.Status.FAILED
    assert dead.error.startswith("the training worker stopped answering (last heartbeat ")
    assert alive.status == TrainingRun.Status.RUNNING
    call_command("training_fail_stale", minutes=1)
    assert capsys.readouterr().out.endswith("0 stale run(s) failed\n")


def test_metrics_tail_reads_only_complete_new_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    assert tail.new_lines() == []
    path.write_text('{"step": 1}\n{"step": 2')
    assert tail.new_lines() == [{"step": 1}]
    with open(path, "a") as out:
        out.write('}\nnot json\n{"step": 3}\n')
    assert tail.new_lines() == [{"step": 2}, {"step": 3}]
    assert tail.new_lines() == []


def test_log_tail_keeps_the_last_lines(tmp_path):
    path = tmp_path / "log.txt"
    assert log_tail(path) == ""
    path.write_text("".join(f"{i}\n" for i in range(30)))
    assert log_tail(path, lines=3) == "27\n28\n29"


def test_the_runner_config_pins_a_template_date_to_the_day_the_run_was_launched(
    workspace, tiny_base_model, sft_version
):
    from training.runner.config import RunConfig
    from training.services.execution import run_directory, runner_prepare

    run = training_run_start(run=training_run_create(workspace=workspace, name="dated", base_model=tiny_base_model,
                                                     dataset_version=sft_version))
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.make_aware(timezone.datetime(2026, 3, 4, 12, 0)))
    run.refresh_from_db()
    runner_prepare(run=run, run_dir=run_directory(run))
    config = RunConfig.from_json(run_directory(run) / "config.json")
    assert (config.template_date, config.assistant_only_loss, config.keep_system_prompt, config.keep_reasoning) == (
        "2026-03-04", True, True, True)
