"""Dedupe on real text from ../shared/data (absent: skipped with a reason, or a failure in CI; tests/shared_data.py)."""

import json

from datahub.services.records import records_bulk_create
from dedupe.models import DedupeDecision
from dedupe.tests.conftest import chat


def long_alpaca_rows(path, count: int) -> list[dict]:
    rows = [
        r for r in json.loads(path.read_text(encoding="utf-8")) if not r["input"] and len(r["output"].split()) >= 60
    ]
    return rows[:count]


def test_copies_of_real_alpaca_rows_are_found_and_the_originals_kept(shared_data, dataset, forum, help_desk, dry_run):
    """30 real rows from the help desk (tier A), then from the forum (tier C): 5 re-cased and re-punctuated copies
    (normalised exact) and 5 with the answer's last word changed (near). Exactly those 10 are dropped."""
    originals = long_alpaca_rows(shared_data("sft/hiyouga__LLaMA-Factory/alpaca_en_demo.json"), 30)
    assert len(originals) == 30
    records_bulk_create(dataset=dataset, rows=[chat(r) for r in originals], source=help_desk)
    recased = [{"instruction": r["instruction"].upper().rstrip("?.!"), "output": r["output"].replace(",", "").upper()}
               for r in originals[:5]]
    reworded = [
        {"instruction": r["instruction"], "output": r["output"].rsplit(" ", 1)[0] + " indeed."} for r in originals[5:10]
    ]
    records_bulk_create(dataset=dataset, rows=[chat(r) for r in recased + reworded], source=forum)
    run = dry_run(dataset=dataset)
    assert (run.record_count, run.cluster_count, run.drop_count) == (40, 10, 10)
    drops = DedupeDecision.objects.filter(run=run, action="drop").select_related("record__source")
    assert {d.record.source.name for d in drops} == {"Forum scrape"}
    assert sorted(d.stage for d in drops) == ["near"] * 5 + ["normalised"] * 5
