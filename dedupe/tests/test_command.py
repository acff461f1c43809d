"""python manage.py dedupe: a dry run with a progress bar, --apply, and clear errors."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from datahub.models import DatasetVersion
from datahub.services.versions import dataset_version_freeze
from dedupe.models import DedupeRun


def run_command(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("dedupe", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_dry_run_then_apply(support_dataset):
    out, err = run_command("--workspace", "Acme support", "--dataset", "Support chats", "--no-semantic")
    run = DedupeRun.objects.get()
    assert out.splitlines() == [
        f"dedupe run {run.pk}: 11 records, 3 clusters, 3 to drop, 0 duplicate pairs across splits, 0 texts embedded "
        f"({run.timings['total']:.1f} s)",
        "dry run only: review it in the browser, or run again with --apply"]
    assert "exact   [####################]" in err and "near    [####################]" in err
    assert DatasetVersion.objects.count() == 0
    out, _ = run_command("--workspace", "Acme support", "--dataset", "Support chats", "--apply", "--cosine", "0.9")
    version = DatasetVersion.objects.get()
    assert out.splitlines()[1] == (
        f"applied: version 1 of 'Support chats' with 7 records ({version.counts['train']} train, "
        f"{version.counts['validation']} validation, {version.counts['test']} test)"
    )
    assert DedupeRun.objects.order_by("-pk").first().cosine_threshold == 0.9


def test_over_a_version(support_dataset):
    dataset_version_freeze(dataset=support_dataset, seed=1)
    out, _ = run_command("--workspace", "Acme support", "--dataset", "Support chats", "--version", "1", "--no-semantic",
                         "--no-near", "--apply")
    version = DatasetVersion.objects.get(number=2)
    assert (version.parent.number, version.operation, sum(version.counts.values())) == (1, "dedupe", 10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workspace", "Nope", "--dataset", "Support chats"], "--workspace: no workspace named 'Nope'"),
        (
            ["--workspace", "Acme support", "--dataset", "Nope"],
            "--dataset: no dataset named 'Nope' in workspace 'Acme support'",
        ),
        (
            ["--workspace", "Acme support", "--dataset", "Support chats", "--version", "4"],
            "--version: dataset 'Support chats' has no version 4",
        ),
        (
            ["--workspace", "Acme support", "--dataset", "Support chats", "--no-exact", "--no-near", "--no-semantic"],
            "--stages: choose at least one stage: exact, near-duplicate or semantic",
        ),
        (
            ["--workspace", "Acme support", "--dataset", "Support chats", "--cosine", "2"],
            "--cosine-threshold: the cosine threshold is from 0.5 to 1 (0.95 is the default for MiniLM-class models)",
        ),
        (
            ["--workspace", "Acme support", "--dataset", "Support chats", "--model", "/nowhere"],
            "--embedding-model: /nowhere is not inside a model directory this server allows: name a directory under one of the "
            "operator's model roots (WHETSTONE_MODEL_ROOTS) or inside this workspace's storage",
        ),
    ],
)
def test_bad_input_fails_with_a_clear_message_and_creates_nothing(support_dataset, args, message):
    with pytest.raises(CommandError) as caught:
        run_command(*args)
    assert str(caught.value) == message
    assert DedupeRun.objects.count() == 0
