"""import_records, freeze_version and export_version, run as an operator would run them."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from datahub.export import trl_row, version_entries
from datahub.models import Dataset, DatasetVersion, ImportJob, Record, Source
from datahub.services.datasets import dataset_create
from datahub.services.versions import dataset_version_freeze
from datahub.tests.fixtures import alpaca_rows

ALPACA_EN = "sft/hiyouga__LLaMA-Factory/alpaca_en_demo.json"


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_records_creates_dataset_and_source(workspace, write_file):
    path = write_file("chats.jsonl", alpaca_rows(6) + alpaca_rows(2))
    out, err = run(
        "import_records", str(path), "--workspace", "Acme support", "--dataset", "Chats", "--source", "Desk", "--create"
    )
    job = ImportJob.objects.get()
    assert (
        out == f"created 6 records, skipped 2 duplicates (alpaca, jsonl, utf-8, import job {job.pk}, dataset 'Chats')\n"
    )
    assert "creating dataset 'Chats'" in err and "creating source 'Desk'" in err
    assert "read 8/8 rows (100%" in err
    dataset = Dataset.objects.get(name="Chats")
    assert Record.objects.filter(dataset=dataset, source__name="Desk").count() == 6
    assert job.created_by is None


def test_import_records_real_file_with_explicit_format(workspace, dataset, shared_data):
    path = shared_data(ALPACA_EN)
    out, _ = run(
        "import_records", str(path), "--workspace", "Acme support", "--dataset", "Support chats", "--format", "alpaca"
    )
    job = ImportJob.objects.get()
    assert (job.status, job.format, job.total, job.created_count + job.duplicate_count) == (
        "succeeded",
        "alpaca",
        999,
        999,
    )
    assert out.startswith(f"created {job.created_count} records, skipped {job.duplicate_count} duplicates")


def test_import_records_bad_row_exits_with_the_place(workspace, dataset, write_file):
    path = write_file("bad.jsonl", alpaca_rows(2) + [{"instruction": "x"}])
    with pytest.raises(CommandError) as caught:
        run("import_records", str(path), "--workspace", "Acme support", "--dataset", "Support chats")
    assert str(caught.value) == f"{path}, line 3: field 'output' is missing (nothing was imported)"
    assert Record.objects.count() == 0
    assert ImportJob.objects.get().status == "failed"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--workspace", "Nope", "--dataset", "Support chats"], "--workspace: no workspace named 'Nope'"),
        (
            ["--workspace", "Acme support", "--dataset", "Nope"],
            "--dataset: no dataset named 'Nope' in workspace 'Acme support'",
        ),
        (
            ["--workspace", "Acme support", "--dataset", "Support chats", "--source", "Nope"],
            "--source: no source named 'Nope' in workspace 'Acme support' (add --create to create it)",
        ),
    ],
)
def test_import_records_names_what_is_missing(workspace, dataset, write_file, args, message):
    path = write_file("a.jsonl", alpaca_rows(1))
    with pytest.raises(CommandError) as caught:
        run("import_records", str(path), *args)
    assert str(caught.value) == message
    assert (ImportJob.objects.count(), Record.objects.count(), Source.objects.count()) == (0, 0, 0)


def test_import_records_missing_file(workspace, dataset, tmp_path):
    with pytest.raises(CommandError) as caught:
        run("import_records", str(tmp_path / "none.jsonl"), "--workspace", "Acme support", "--dataset", "Support chats")
    assert str(caught.value) == f"{tmp_path / 'none.jsonl'}: no such file"


def test_freeze_version(workspace, dataset, write_file, import_path):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(40)))
    out, _ = run(
        "freeze_version",
        "--workspace",
        "Acme support",
        "--dataset",
        "Support chats",
        "--seed",
        "4",
        "--ratios",
        "0.5,0.25,0.25",
    )
    version = DatasetVersion.objects.get()
    assert (version.seed, version.ratios) == (4, {"train": 0.5, "validation": 0.25, "test": 0.25})
    c = version.counts
    assert out == (f"frozen 'Support chats' v1: train {c['train']}, validation {c['validation']}, test {c['test']}; "
                   f"manifest {version.manifest_hash}\n")
    out, _ = run("freeze_version", "--workspace", "Acme support", "--dataset", "Support chats", "--seed", "4",
                 "--ratios", "train=0.5,validation=0.25,test=0.25")
    assert out.endswith(f"manifest {version.manifest_hash}, parent v1\n")


def test_freeze_version_honours_the_ratios_on_small_data(workspace, dataset, write_file, import_path):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(4)))
    out, _ = run("freeze_version", "--workspace", "Acme support", "--dataset", "Support chats", "--ratios", "0.5,0,0.5")
    assert DatasetVersion.objects.get().counts == {"train": 2, "validation": 0, "test": 2}
    assert "train 2, validation 0, test 2" in out


@pytest.mark.parametrize("ratios,message", [
    ("0.8,0.2", "--ratios: give three numbers for train, validation and test (e.g. 0.8,0.1,0.1), not '0.8,0.2'"),
    ("a,b,c", "--ratios: 'a,b,c' is not a list of numbers"),
    ("0.8,0.3,0.1", "--ratios: split ratios must be non-negative and add up to 1"),
])
def test_freeze_version_bad_ratios(workspace, dataset, write_file, import_path, ratios, message):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(3)))
    with pytest.raises(CommandError) as caught:
        run("freeze_version", "--workspace", "Acme support", "--dataset", "Support chats", "--ratios", ratios)
    assert str(caught.value) == message
    assert DatasetVersion.objects.count() == 0


def test_freeze_version_empty_dataset(workspace, dataset):
    with pytest.raises(CommandError) as caught:
        run("freeze_version", "--workspace", "Acme support", "--dataset", "Support chats")
    assert str(caught.value) == "dataset: dataset 'Support chats' has no records to freeze"


def test_export_version(workspace, dataset, write_file, import_path, tmp_path):
    import_path(dataset, write_file("a.jsonl", alpaca_rows(30)))
    version = dataset_version_freeze(dataset=dataset, seed=1)
    out_file = tmp_path / "out" / "train.jsonl"
    out, err = run(
        "export_version",
        "--workspace",
        "Acme support",
        "--dataset",
        "Support chats",
        "--version",
        "1",
        "--split",
        "train",
        "--out",
        str(out_file),
    )
    train = version.counts["train"]
    assert out == f"wrote {train} rows (split 'train' of 'Support chats' v1) to {out_file}\n"
    assert f"wrote {train}/{train} rows" in err
    rows = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert rows == [trl_row(entry.record) for entry in version_entries(version, "train")]
    assert not (tmp_path / "out" / "train.jsonl.partial").exists()


def test_export_version_unknown_version(workspace, dataset, tmp_path):
    with pytest.raises(CommandError) as caught:
        run("export_version", "--workspace", "Acme support", "--dataset", "Support chats", "--version", "3",
            "--out", str(tmp_path / "x.jsonl"))
    assert str(caught.value) == "--version: dataset 'Support chats' has no version 3"
    assert not (tmp_path / "x.jsonl").exists()


def test_commands_find_datasets_per_workspace(workspace, other_workspace, write_file):
    dataset_create(workspace=other_workspace, name="Chats")
    with pytest.raises(CommandError) as caught:
        run(
            "import_records",
            str(write_file("a.jsonl", alpaca_rows(1))),
            "--workspace",
            "Acme support",
            "--dataset",
            "Chats",
        )
    assert str(caught.value) == "--dataset: no dataset named 'Chats' in workspace 'Acme support'"


def test_import_records_csv_with_map_and_skip_invalid(workspace, dataset, write_file):
    path = write_file("qa.csv", "question,answer\nWhat?,That.\nEmpty?,\n")
    out, _ = run("import_records", str(path), "--workspace", "Acme support", "--dataset", "Support chats",
                 "--map", "instruction=question", "--map", "output=answer", "--skip-invalid")
    job = ImportJob.objects.get()
    assert out == (
        f"created 1 records, skipped 0 duplicates, left out 1 invalid rows (report: import job {job.pk} errors) "
        f"(alpaca, csv, utf-8, import job {job.pk}, dataset 'Support chats')\n"
    )
    with pytest.raises(CommandError) as caught:
        run(
            "import_records",
            str(path),
            "--workspace",
            "Acme support",
            "--dataset",
            "Support chats",
            "--map",
            "nonsense",
        )
    assert str(caught.value) == "--map 'nonsense': expected FIELD=COLUMN"


def test_import_records_resume_of_a_stalled_job(workspace, dataset, write_file):
    from datetime import timedelta

    from django.utils import timezone

    from datahub.services.imports import import_job_create

    job = import_job_create(
        dataset=dataset, path=write_file("a.jsonl", alpaca_rows(3)), file_name="a.jsonl", run_in_background=False
    )
    with pytest.raises(CommandError) as caught:
        run("import_records", "--resume", str(job.pk))
    assert (
        str(caught.value)
        == f"--resume {job.pk}: import job {job.pk} is queued and still moving; only a stalled running import resumes"
    )
    ImportJob.objects.filter(pk=job.pk).update(status="running", updated_at=timezone.now() - timedelta(hours=2))
    out, err = run("import_records", "--resume", str(job.pk))
    assert f"resuming import job {job.pk} after row 0" in err
    assert out.startswith("created 3 records, skipped 0 duplicates (alpaca, jsonl, utf-8")
