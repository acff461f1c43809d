import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import GeneralEval


@pytest.mark.slow
def test_the_command_scores_both_models_and_prints_the_report(workspace, tiny_base_model, tiny_artifact, tmp_path):
    (tmp_path / "test").mkdir()
    (tmp_path / "dev").mkdir()
    (tmp_path / "test" / "toys_test.csv").write_bytes(b"Q1,a,b,c,d,A\nQ2,a,b,c,d,B\nQ3,a,b,c,d,C\n")
    (tmp_path / "dev" / "toys_dev.csv").write_bytes(b"D1,a,b,c,d,D\n")
    out, err = StringIO(), StringIO()
    call_command(
        "general_eval",
        workspace="Acme support",
        baseline="tiny-chat",
        candidate=f"artifact:{tiny_artifact.name}",
        test=str(tmp_path / "test"),
        dev=str(tmp_path / "dev"),
        shots=1,
        stdout=out,
        stderr=err,
    )
    report = json.loads(out.getvalue())
    check = GeneralEval.objects.get()
    assert (report["id"], report["status"], report["overall"]["items"], report["subjects"][0]["subject"]) == (
        check.pk,
        "done",
        3,
        "toys",
    )
    assert report["overall"]["baseline_correct"] == check.items.filter(baseline_correct=True).count()
    assert "100%" in err.getvalue()


def test_the_command_names_the_bad_line(workspace, tiny_base_model, tmp_path):
    bad = tmp_path / "toys_test.csv"
    bad.write_bytes(b"Q1,a,b,c,d,A\nQ2,a,b,c,d\n")
    with pytest.raises(CommandError, match=r"^toys_test.csv, line 2: an MMLU row has 6 fields"):
        call_command("general_eval", workspace="Acme support", baseline="tiny-chat", test=str(bad), shots=0)
    assert GeneralEval.objects.count() == 0
