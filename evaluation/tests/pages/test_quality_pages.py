"""The gold and repeats page, the rater reliability table on the results page and the printable report."""

import io

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from common.models import HistoryEvent
from evaluation.models import Comparison, RaterExclusion, StudyPrompt
from evaluation.services import showing_serve, study_gold_upload, vote_submit
from evaluation.tests.fixtures import vote_as_stored


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _gold(n: int, start: int = 0) -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": f"Question {i}?"}], "chosen": f"Right {i}", "rejected": f"Wrong {i}"}
        for i in range(start, start + n)
    ]


@pytest.fixture
def gold_study(make_study, answer_studies):
    study = make_study(gold_rate=0.2, repeat_rate=0.5)
    answer_studies()
    study.refresh_from_db()
    assert study.status == "open", study.error
    return study


def test_the_gold_page_costs_the_same_queries_for_one_and_ten_rows(gold_study, users):
    client = _client(users["product_manager"])
    url = reverse("evaluation:study-gold", args=[gold_study.pk])
    study_gold_upload(study=gold_study, items=_gold(1), actor=users["product_manager"])
    with CaptureQueriesContext(connection) as one:
        response = client.get(url + "?gold=1")
    assert len(response.context["page"].object_list) == 1
    study_gold_upload(study=gold_study, items=_gold(5, start=1), actor=users["product_manager"])
    with CaptureQueriesContext(connection) as ten:
        response = client.get(url)
    assert len(response.context["page"].object_list) == 10  # 6 gold, 4 regular; the 2 repeats are not listed
    assert len(one) == len(ten)
    html = response.content.decode()
    assert html.count("(repeated)") == 2 and "baseline-arm" in html and html.count("uploaded") == 12


def test_uploading_gold_from_the_page_and_marking_a_comparison_with_htmx(gold_study, users):
    client = _client(users["product_manager"])
    url = reverse("evaluation:study-gold", args=[gold_study.pk])
    lines = "\n".join(['{"messages": [{"role": "user", "content": "2 + 2?"}], "chosen": "4", "rejected": "5"}', ""])
    upload = io.BytesIO(lines.encode())
    upload.name = "gold.jsonl"
    response = client.post(url, {"gold_file": upload}, follow=True)
    assert "Added 1 gold comparison." in response.content.decode()
    assert StudyPrompt.objects.filter(study=gold_study, is_gold=True).count() == 1
    bad = io.BytesIO(b'{"messages": [{"role": "user", "content": "Hi"}], "chosen": "x", "rejected": "x"}\n')
    bad.name = "bad.jsonl"
    response = client.post(url, {"gold_file": bad})
    assert "gold line 1: the better and the worse answer are the same text" in response.content.decode()
    assert StudyPrompt.objects.filter(study=gold_study, is_gold=True).count() == 1

    comparison = Comparison.objects.filter(study=gold_study, repeat_of=None, gold_answer=None).order_by("order").first()
    mark = reverse("evaluation:comparison-gold", args=[gold_study.pk, comparison.pk])
    response = client.post(mark, {"better": "left"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    row = response.content.decode()
    assert row.lstrip().startswith(f'<tr id="comparison-{comparison.pk}" class="gold">') and "gold-unmark" in row
    comparison.refresh_from_db()
    assert comparison.gold_answer_id == comparison.left_answer_id
    for role in ("ml_engineer", "crowd_annotator", "outsider"):
        assert _client(users[role]).get(url).status_code == 404
        assert _client(users[role]).post(mark, {"better": "right"}).status_code == 404
    comparison.refresh_from_db()
    assert comparison.gold_answer_id == comparison.left_answer_id


def test_the_results_page_shows_the_reliability_table_and_the_manager_leaves_a_rater_out(gold_study, users):
    pm, rater = users["product_manager"], users["crowd_annotator"]
    study_gold_upload(study=gold_study, items=_gold(1), actor=pm)
    gold = Comparison.objects.get(study=gold_study, gold_answer__isnull=False)
    vote_as_stored(
        comparison=gold,
        rater=rater,
        choice="left" if gold.gold_answer_id == gold.left_answer_id else "right",
        time_spent_ms=2000,
    )
    vote_submit(
        comparison=showing_serve(study=gold_study, rater=rater).comparison,
        rater=rater,
        choice="tie",
        time_spent_ms=4000,
    )
    detail = reverse("evaluation:study-detail", args=[gold_study.pk])
    html = _client(pm).get(detail).content.decode()
    assert 'id="rater-table"' in html and 'id="rater-chart"' in html
    assert '<td class="gold-accuracy">100.0% <span class="muted">(1/1)</span></td>' in html
    assert "rater-exclude" in html and "flagged</span>" not in html
    reader_html = _client(users["ml_engineer"]).get(detail).content.decode()
    assert 'id="rater-table"' in reader_html and "rater-exclude" not in reader_html  # reading is not deciding

    exclude = reverse("evaluation:rater-exclusion", args=[gold_study.pk, rater.pk, "exclude"])
    assert _client(users["ml_engineer"]).post(exclude).status_code == 404
    assert not RaterExclusion.objects.exists()
    response = _client(pm).post(exclude, {"reason": "too fast"}, follow=True)
    html = response.content.decode()
    assert "crowd_annotator&#x27;s votes are left out of the results." in html
    assert 'id="raters-excluded"' in html and "too fast" in html and "rater-include" in html
    assert (
        HistoryEvent.objects.filter(
            target_type="evaluation.study", target_id=gold_study.pk, verb="rater_excluded"
        ).count()
        == 1
    )
    report = (
        _client(users["ml_engineer"]).get(reverse("evaluation:study-report", args=[gold_study.pk])).content.decode()
    )
    assert 'id="rater-table"' in report and 'id="raters-excluded"' in report and "rater-include" not in report
