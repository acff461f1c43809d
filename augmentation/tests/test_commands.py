from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from augmentation.models import AugmentationRun
from datahub.models import DatasetVersion, Source

pytestmark = pytest.mark.django_db


def call(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_augment_eda_and_accept(version, workspace, tmp_path):
    table = tmp_path / "mine.tsv"
    table.write_text("refund\trepayment\n", encoding="utf-8")
    out, err = call("augment", "--workspace", workspace.name, "--dataset", version.dataset.name, "--method", "eda",
                    "--seed", "1", "--synonyms", str(table), "--accept-passing")
    assert "augmentation run" in out and "12 candidates, 12 passing (kept 12)" in out
    assert "accepted as 'Support chats' v2: train 15, validation 0, test 1" in out
    assert "augmenting [" in err and "3/3" in err
    assert DatasetVersion.objects.get(number=2).operation == "augmentation"


def test_augment_bad_input_says_where(version, workspace):
    with pytest.raises(CommandError, match="--dataset-version: dataset 'Support chats' has no version 9"):
        call(
            "augment",
            "--workspace",
            workspace.name,
            "--dataset",
            version.dataset.name,
            "--dataset-version",
            "9",
            "--method",
            "eda",
        )
    with pytest.raises(CommandError, match="--endpoint: paraphrase and LLM back-translation need a model endpoint"):
        call("augment", "--workspace", workspace.name, "--dataset", version.dataset.name, "--method", "paraphrase")
    with pytest.raises(CommandError, match="--eda-alpha: alpha must be above 0"):
        call(
            "augment",
            "--workspace",
            workspace.name,
            "--dataset",
            version.dataset.name,
            "--method",
            "eda",
            "--alpha",
            "0.9",
        )
    assert AugmentationRun.objects.count() == 0


def test_mix_sources(version, workspace, aug_source):
    out, err = call(
        "mix_sources",
        "--workspace",
        workspace.name,
        "--dataset",
        "Mixed",
        "--create",
        "--source",
        f"{aug_source.name}=0.5",
        "--from-version",
        f"{version.dataset.name}:1=0.5",
        "--total",
        "4",
    )
    assert (
        "mixed 4 records into 'Mixed' v1: Help desk 2/2 (0.500 of 0.500), Support chats v1 2/2 (0.500 of 0.500)" in out
    )
    assert "mixing [" in err
    with pytest.raises(CommandError, match="--source 'Help desk': expected NAME=RATIO"):
        call(
            "mix_sources", "--workspace", workspace.name, "--dataset", "Mixed", "--source", "Help desk", "--total", "4"
        )
    with pytest.raises(CommandError, match="the ratios must add up to 1"):
        call(
            "mix_sources",
            "--workspace",
            workspace.name,
            "--dataset",
            "Mixed",
            "--source",
            f"{aug_source.name}=0.3",
            "--total",
            "4",
        )


def test_grade_source_rules_and_set_tier(version, workspace, aug_source):
    out, err = call("grade_source", "--workspace", workspace.name, "--source", aug_source.name, "--set-tier")
    assert "graded 4 records of 'Help desk': mean 1.000, 0 without a score, suggested tier A (now B)" in out
    assert "tier of 'Help desk' set to A" in out
    assert "grading [" in err
    assert Source.objects.get(pk=aug_source.pk).quality_tier == "A"
    with pytest.raises(CommandError, match="--source: no source named 'Nope'"):
        call("grade_source", "--workspace", workspace.name, "--source", "Nope")
