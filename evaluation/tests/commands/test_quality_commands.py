import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import Comparison, RaterExclusion
from evaluation.services import showing_serve, vote_submit

GOLD = '{"messages": [{"role": "user", "content": "2 + 2?"}], "chosen": "4", "rejected": "5"}\n'


def test_gold_upload_from_a_file_and_its_errors(open_study, users, tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(GOLD + GOLD.replace("2 + 2", "3 + 3").replace('"4"', '"6"'), encoding="utf-8")
    out = StringIO()
    call_command(
        "study_gold_upload", "--study", str(open_study.pk), "--file", str(path), "--user", "product_manager", stdout=out
    )
    assert out.getvalue().strip() == f"added 2 gold comparisons to study {open_study.pk}"
    assert Comparison.objects.filter(study=open_study, gold_answer__isnull=False).count() == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "Hi"}], "chosen": "x"}\n', encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("study_gold_upload", "--study", str(open_study.pk), "--file", str(bad))
    assert str(error.value) == 'gold line 1: expected {"messages": [...], "chosen": ..., "rejected": ...}'
    with pytest.raises(CommandError) as missing:
        call_command("study_gold_upload", "--study", str(open_study.pk), "--file", str(tmp_path / "nope.jsonl"))
    assert str(missing.value) == f"--file {tmp_path / 'nope.jsonl'}: no such file"
    assert Comparison.objects.filter(study=open_study, gold_answer__isnull=False).count() == 2


def test_study_rater_prints_reliability_and_excludes_and_includes(open_study, users):
    rater = users["crowd_annotator"]
    vote_submit(
        comparison=showing_serve(study=open_study, rater=rater).comparison,
        rater=rater,
        choice="left",
        time_spent_ms=500,
    )
    out = StringIO()
    call_command("study_rater", "--study", str(open_study.pk), "--exclude", "crowd_annotator", "--reason", "test",
                 "--user", "product_manager", stdout=out)
    [row] = json.loads(out.getvalue())
    assert (row["username"], row["votes"], row["excluded"], row["exclusion_reason"], row["median_seconds"]) == (
        "crowd_annotator", 1, True, "test", 0.5)
    assert RaterExclusion.objects.get().excluded_by == users["product_manager"]
    with pytest.raises(CommandError) as error:
        call_command("study_rater", "--study", str(open_study.pk), "--exclude", "crowd_annotator")
    assert str(error.value) == "--exclude crowd_annotator: this rater's votes are already left out"
    with pytest.raises(CommandError) as unknown:
        call_command("study_rater", "--study", str(open_study.pk), "--include", "nobody")
    assert str(unknown.value) == "--include: no user named 'nobody'"
    call_command("study_rater", "--study", str(open_study.pk), "--include", "crowd_annotator", stdout=StringIO())
    assert not RaterExclusion.objects.exists()
