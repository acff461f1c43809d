"""Ranking of N answers per schema: items grouped by prompt, submit checks, both queue paths' storage
(test_queue_paths), agreement (Kendall tau against scipy), export as rank labels and as preference pairs, the API, the
command and the workbench page."""

import io
import json
from itertools import combinations

import pytest
from django.core.management import call_command
from django.urls import reverse
from scipy.stats import kendalltau

from annotation.aggregation import mean_places, ranking_aggregate, ranking_pairs
from annotation.models import Annotation, AnnotationTask, Assignment, LabelSchema
from annotation.dashboard import project_dashboard, ranking_agreement, ranking_taus
from annotation.services import annotation_project_export, annotation_submit, assignment_claim_next, label_schema_create
from annotation.tests.fixtures import TOPIC_TREE, label_id
from common.errors import ApplicationError
from common.models import HistoryEvent
from datahub.export import trl_row
from datahub.models import Record, VersionRecord


def answer_row(question: int, answer: int) -> dict:
    return {
        "kind": "sft",
        "messages": [
            {"role": "system", "content": "You are Acme's support assistant."},
            {"role": "user", "content": f"Question {question}: how do I get my money back?"},
            {"role": "assistant", "content": f"Answer {answer} to question {question}."},
        ],
    }


def pair_row(i: int) -> dict:
    return {"kind": "preference", "messages": [{"role": "user", "content": f"Pair question {i}?"}],
            "chosen": {"role": "assistant", "content": f"Pair {i}: the stored chosen one."},
            "rejected": {"role": "assistant", "content": f"Pair {i}: the stored rejected one."}}


@pytest.fixture
def ranking_schema(workspace, users):
    return label_schema_create(
        workspace=workspace,
        name="Rank",
        tree=TOPIC_TREE,
        ranking_question=" Best answer first ",
        pairwise_question="Which is better?",
        created_by=users["ml_engineer"],
    )


@pytest.fixture
def ranking_project(annotation_project_factory, annotation_version_factory, ranking_schema):
    def make(*, rows: list[dict], overlap: int = 1, name: str = "Rank answers"):
        return annotation_project_factory(
            version=annotation_version_factory(rows=rows), overlap=overlap, schema=ranking_schema, name=name
        )

    return make


def _texts(entry_ids: list[int]) -> list[str]:
    records = dict(VersionRecord.objects.filter(pk__in=entry_ids).values_list("pk", "record__messages"))
    return [records[e][-1]["content"] for e in entry_ids]


def _rank(project, user, order: list[int] | None = None, **fields):
    """Claim the next item and rank its answers: `order` lists positions in the item's candidates (best first)."""
    assignment = assignment_claim_next(project=project, annotator=user)
    candidates = AnnotationTask.objects.get(pk=assignment.task_id).candidates
    ranking = [candidates[i] for i in order] if order is not None else []
    return annotation_submit(
        assignment=assignment,
        label_ids=[label_id(project.schema, "billing/refund")],
        time_spent_ms=1,
        submitted_by=user,
        ranking=ranking,
        **fields,
    )


def test_a_project_groups_the_answers_to_one_prompt_into_ranking_items(ranking_project):
    # Question 0: three answers; question 1: one; question 2: eleven (cut 6 + 5); a preference record stays alone.
    rows = (
        [answer_row(0, a) for a in range(3)]
        + [answer_row(1, 0)]
        + [answer_row(2, a) for a in range(11)]
        + [pair_row(0)]
    )
    project = ranking_project(rows=rows)
    tasks = list(AnnotationTask.objects.filter(project=project).order_by("pk").values_list("entry_id", "candidates"))
    by_text = {tuple(_texts(candidates or [entry])): (entry, candidates) for entry, candidates in tasks}
    assert sorted(len(key) for key in by_text) == [1, 1, 3, 5, 6]
    for texts, (entry, candidates) in by_text.items():
        if len(texts) > 1:
            assert candidates[0] == entry and candidates == sorted(candidates)
            assert len({text.split(" to ")[1] for text in texts}) == 1  # one prompt per item
    assert ("Answer 0 to question 1.",) in by_text
    assert sum(len(key) for key in by_text) == len(rows)
    assert (
        HistoryEvent.objects.get(
            verb="created", target_type="annotation.annotationproject", target_id=project.pk
        ).after["ranking_items"]
        == 3
    )
    # Tasks come in entry order, so the queue walks the version as stored.
    assert [entry for entry, _ in tasks] == sorted(entry for entry, _ in tasks)


def test_submit_stores_the_ranking_and_checks_it(ranking_project, annotation_project_factory, topic_schema, users):
    project = ranking_project(rows=[answer_row(0, a) for a in range(3)] + [answer_row(1, 0)])
    person = users["crowd_annotator"]
    assignment = assignment_claim_next(project=project, annotator=person)
    task = AnnotationTask.objects.get(pk=assignment.task_id)
    candidates = task.candidates
    label = [label_id(project.schema, "billing/refund")]

    def submit(**fields):
        return annotation_submit(assignment=assignment, label_ids=label, time_spent_ms=1, submitted_by=person, **fields)

    cases = [
        ({}, "ranking: rank the 3 answers, best first"),
        ({"ranking": candidates[:2]}, f"ranking: rank every answer; not ranked: {candidates[2]}"),
        (
            {"ranking": [candidates[0], candidates[0], candidates[1]]},
            f"ranking[1]: answer {candidates[0]} is ranked twice",
        ),
        ({"ranking": [candidates[0], 999_999, candidates[1]]}, "ranking[1]: 999999 is not one of this item's answers"),
        ({"ranking": ["x"]}, "ranking[0]: 'x' is not an answer id"),
        (
            {"ranking": candidates, "corrected_response": "Better."},
            "corrected_response: a ranking item has several answers; rank them instead of correcting one",
        ),
    ]
    for fields, message in cases:
        with pytest.raises(ApplicationError) as refused:
            submit(**fields)
        assert str(refused.value) == message
    assert Annotation.objects.count() == 0
    order = [candidates[2], candidates[0], candidates[1]]
    annotation = submit(ranking=order)
    annotation.refresh_from_db()
    assert annotation.ranking == order
    assert HistoryEvent.objects.get(verb="submitted", target_id=annotation.pk).after["ranking"] == order
    # A repeated submit of the same answer returns it; another answer is a conflict and changes nothing.
    assert submit(ranking=order).pk == annotation.pk
    with pytest.raises(ApplicationError) as refused:
        submit(ranking=candidates[::-1])
    assert (refused.value.code, refused.value.where) == ("conflict", "assignment")
    assert Annotation.objects.get().ranking == order
    # The single answer of question 1 is an item of its own: nothing to rank there.
    single = assignment_claim_next(project=project, annotator=person)
    assert AnnotationTask.objects.get(pk=single.task_id).candidates == []
    with pytest.raises(ApplicationError) as refused:
        annotation_submit(assignment=single, label_ids=label, time_spent_ms=1, submitted_by=person, ranking=[1, 2])
    assert str(refused.value) == "ranking: this item has one answer; there is nothing to rank"
    # A schema without the question refuses a ranking.
    plain = annotation_project_factory(n=1, schema=topic_schema, name="Plain")
    other = assignment_claim_next(project=plain, annotator=person)
    with pytest.raises(ApplicationError) as refused:
        annotation_submit(assignment=other, label_ids=[label_id(topic_schema, "billing/refund")], time_spent_ms=1,
                          submitted_by=person, ranking=[1, 2])
    assert str(refused.value) == "ranking: the schema Topic v1 asks for no ranking"


def test_ranking_aggregate_and_pairs_by_hand():
    # Three annotators rank a, b, c: mean places a 1/3, b 2/3, c 2 (0 = best).
    rankings = [["a", "b", "c"], ["b", "a", "c"], ["a", "b", "c"]]
    assert mean_places(rankings) == pytest.approx({"a": 1 / 3, "b": 2 / 3, "c": 2.0})
    assert ranking_aggregate(rankings) == ["a", "b", "c"]
    assert ranking_pairs(rankings) == [("a", "b"), ("a", "c"), ("b", "c")]
    # Equal mean places make no pair; the tie in the order goes to the answer ranked first more often.
    tied = [["a", "b"], ["b", "a"]]
    assert ranking_pairs(tied) == []
    assert ranking_aggregate([["b", "a", "c"], ["a", "c", "b"], ["c", "b", "a"]]) == ["b", "a", "c"]
    assert ranking_aggregate([]) == [] and ranking_pairs([]) == []


def test_kendall_tau_agreement_equals_scipy(ranking_project, users, client):
    project = ranking_project(rows=[answer_row(q, a) for q in range(3) for a in range(4)], overlap=3)
    people = [users["crowd_annotator"], users["staff_annotator"], users["expert_annotator"]]
    # Per item, each annotator's order of the candidate positions, best first.
    table = [
        [[0, 1, 2, 3], [0, 1, 2, 3], [3, 2, 1, 0]],
        [[1, 0, 2, 3], [0, 1, 3, 2], [0, 1, 2, 3]],
        [[2, 0, 1, 3], [2, 1, 0, 3], [2, 0, 1, 3]],
    ]
    for item in table:
        for person, order in zip(people, item, strict=True):
            _rank(project, person, order)
    expected, per_person = [], {p.pk: [] for p in people}
    for item in table:
        places = [[order.index(i) for i in range(4)] for order in item]
        for (i, a), (j, b) in combinations(enumerate(places), 2):
            tau = kendalltau(a, b).statistic
            expected.append(tau)
            per_person[people[i].pk].append(tau)
            per_person[people[j].pk].append(tau)
    units, mean, mine = ranking_agreement(project=project)
    assert units == 3
    assert mean == pytest.approx(sum(expected) / len(expected), abs=1e-12)
    assert mine == pytest.approx({pk: sum(v) / len(v) for pk, v in per_person.items()}, abs=1e-12)
    # By hand on the first item: the two identical rankings agree fully (1) and each disagrees fully with the reversed
    # one.
    assert ranking_taus({1: [(1, [5, 6, 7]), (2, [5, 6, 7]), (3, [7, 6, 5])]})[1] == pytest.approx((1 - 1 - 1) / 3)
    dashboard = project_dashboard(project=project)
    assert (dashboard.ranking_units, dashboard.ranking_tau) == (3, pytest.approx(mean))
    client.force_login(users["ml_engineer"])
    page = client.get(reverse("annotation:project-dashboard", args=[project.pk])).content.decode()
    assert f'<dd id="ranking-tau">{mean:.3f}</dd>' in page
    assert page.count('class="ranking-tau"') == 3


def test_export_labels_each_answer_with_its_place(ranking_project, users):
    project = ranking_project(rows=[answer_row(0, a) for a in range(3)] + [answer_row(1, 0)], overlap=2)
    people = [users["crowd_annotator"], users["staff_annotator"]]
    for person, order in zip(people, [[2, 0, 1], [2, 1, 0]], strict=True):
        _rank(project, person, order)
    for person in people:
        _rank(project, person)  # the single answer: labels only
    task = AnnotationTask.objects.exclude(candidates=[]).get(project=project)
    version = annotation_project_export(project=project, created_by=users["ml_engineer"])
    labels = dict(version.entries.values_list("record_id", "labels"))
    records = dict(VersionRecord.objects.filter(pk__in=task.candidates).values_list("pk", "record_id"))
    c = task.candidates
    # Mean places: c[2] 0, c[0] 1.5, c[1] 1.5 -> c[0] wins the tie (first seen in the first ranking after c[2]).
    assert labels[records[c[2]]] == ["billing/refund", "rank:1"]
    assert labels[records[c[0]]] == ["billing/refund", "rank:2"]
    assert labels[records[c[1]]] == ["billing/refund", "rank:3"]
    assert len(labels) == 4 and sorted(map(len, labels.values())) == [1, 2, 2, 2]
    assert version.operation_detail["ranked"] == 1


def test_preference_pairs_export_is_ready_for_dpo(ranking_project, users):
    rows = [answer_row(0, a) for a in range(3)] + [answer_row(1, a) for a in range(2)] + [pair_row(i) for i in range(3)]
    project = ranking_project(rows=rows, overlap=2)
    people = [users["crowd_annotator"], users["staff_annotator"]]
    tasks = list(AnnotationTask.objects.filter(project=project).order_by("pk"))
    orders = {3: ([2, 0, 1], [2, 0, 1]), 2: ([0, 1], [1, 0])}  # three answers agreed; two answers: a tie, no pair
    preferences = iter([("b", "b"), ("a", "a"), ("a", "tie")])  # pair items in order: swapped, kept, tied out
    for task in tasks:
        given = orders[len(task.candidates)] if task.candidates else next(preferences)
        for person, answer in zip(people, given, strict=True):
            assignment = assignment_claim_next(project=project, annotator=person)
            assert assignment.task_id == task.pk
            fields = {"ranking": [task.candidates[i] for i in answer]} if task.candidates else {"preference": answer}
            annotation_submit(
                assignment=assignment,
                label_ids=[label_id(project.schema, "billing/refund")],
                time_spent_ms=1,
                submitted_by=person,
                **fields,
            )
    version = annotation_project_export(project=project, created_by=users["ml_engineer"], output="preference_pairs")
    entries = list(version.entries.select_related("record").order_by("pk"))
    assert all(entry.record.kind == "preference" for entry in entries)
    rows_out = {(entry.record.chosen["content"], entry.record.rejected["content"]) for entry in entries}
    three = next(t for t in tasks if len(t.candidates) == 3).candidates
    a, b, c = _texts(three)
    assert rows_out == {(c, a), (c, b), (a, b), ("Pair 0: the stored rejected one.", "Pair 0: the stored chosen one."),
                        ("Pair 1: the stored chosen one.", "Pair 1: the stored rejected one.")}
    ranked = [
        entry
        for entry in entries
        if entry.record.origin == "annotation" and entry.record.messages[-1]["content"].startswith("Question")
    ]
    for entry in ranked:
        parent = Record.objects.get(pk=entry.record.parent_id)
        assert parent.messages[-1] == entry.record.chosen and parent.messages[:-1] == entry.record.messages
        assert entry.split == VersionRecord.objects.get(pk=three[0]).split
        row = trl_row(entry.record)
        assert set(row) == {"prompt", "chosen", "rejected"} and row["prompt"][-1]["role"] == "user"
    detail = version.operation_detail
    assert (detail["output"], detail["ranked"], detail["ranking_pairs"], detail["swapped"], detail["pairs"]) == (
        "preference_pairs", 2, 3, 1, 5)
    assert detail["pairwise"] == {"a": 1, "b": 1, "tie": 1}  # a + tie is a tie: left out
    assert version.parent_id == project.dataset_version_id


def test_preference_pairs_export_needs_rankings_or_choices(ranking_project, users):
    project = ranking_project(rows=[answer_row(0, 0)])
    _rank(project, users["crowd_annotator"])
    with pytest.raises(ApplicationError) as refused:
        annotation_project_export(project=project, output="preference_pairs")
    assert str(refused.value) == "project: the project has no rankings or A/B choices to export as preference pairs"
    with pytest.raises(ApplicationError) as refused:
        annotation_project_export(project=project, output="pairs")
    assert str(refused.value) == "output: must be one of records, preference_pairs"


def test_api_claim_submit_and_export_carry_the_ranking(
    api_for, users, workspace, annotation_project_factory, annotation_version_factory
):
    manager = api_for(users["ml_engineer"])
    response = manager.post("/api/v1/label-schemas/", {"workspace": workspace.pk, "name": "Rank", "tree": TOPIC_TREE,
                                                        "ranking_question": "Best first?"}, format="json")
    assert response.status_code == 201 and response.json()["ranking_question"] == "Best first?"
    schema = LabelSchema.objects.get(pk=response.json()["id"])
    project = annotation_project_factory(
        version=annotation_version_factory(rows=[answer_row(0, a) for a in range(3)]), schema=schema
    )
    worker = api_for(users["crowd_annotator"])
    item = worker.post(f"/api/v1/annotation/projects/{project.pk}/claim/").json()
    assert item["ranking_question"] == "Best first?" and item["correctable"] is False
    assert [c["number"] for c in item["candidates"]] == [1, 2, 3]
    assert sorted(c["content"] for c in item["candidates"]) == [f"Answer {a} to question 0." for a in range(3)]
    submit = f"/api/v1/annotation/assignments/{item['assignment_id']}/submit/"
    label = [label_id(schema, "billing/refund")]
    refused = worker.post(submit, {"label_ids": label}, format="json")
    assert refused.status_code == 400 and refused.json()["where"] == "ranking"
    order = [c["entry_id"] for c in item["candidates"]][::-1]
    done = worker.post(submit, {"label_ids": label, "ranking": order}, format="json")
    assert done.status_code == 200 and done.json()["ranking"] == order
    agreement = manager.get(f"/api/v1/annotation/projects/{project.pk}/agreement/").json()
    assert (agreement["ranking_items"], agreement["ranking_tau"]) == (0, None)
    exported = manager.post(
        f"/api/v1/annotation/projects/{project.pk}/export/", {"output": "preference_pairs"}, format="json"
    )
    assert exported.status_code == 201
    assert exported.json()["operation_detail"]["pairs"] == 3 and exported.json()["counts"]


def test_commands_take_the_ranking_question_and_export_pairs(tmp_path, workspace, ranking_project, users):
    tree = tmp_path / "topics.txt"
    tree.write_text("billing\n  refund\naccount\n", encoding="utf-8")
    call_command("label_schema_create", "--workspace", "Acme support", "--name", "Ranked", "--tree", str(tree),
                 "--ranking-question", "Best first?", stdout=io.StringIO())
    assert LabelSchema.objects.get(name="Ranked").ranking_question == "Best first?"
    project = ranking_project(rows=[answer_row(0, a) for a in range(3)])
    _rank(project, users["crowd_annotator"], [1, 0, 2])
    out = io.StringIO()
    call_command(
        "annotation_export",
        "--project",
        str(project.pk),
        "--output",
        "preference_pairs",
        stdout=out,
        stderr=io.StringIO(),
    )
    assert "3 preference pairs (3 from 1 ranked items, 0 A/B pairs swapped)" in out.getvalue()
    out = io.StringIO()
    call_command("annotation_agreement", "--project", str(project.pk), stdout=out)
    assert "rankings: 0 items ranked by several annotators, mean Kendall tau -" in out.getvalue()


def test_workbench_shows_the_answers_shuffled_and_takes_places(ranking_project, users, client):
    project = ranking_project(rows=[answer_row(0, a) for a in range(4)])
    client.force_login(users["crowd_annotator"])
    page = client.post(reverse("annotation:workbench", args=[project.pk]), follow=True).content.decode()
    assignment = Assignment.objects.get(annotator=users["crowd_annotator"], status="active")
    candidates = AnnotationTask.objects.get(pk=assignment.task_id).candidates
    assert 'id="ranking"' in page and "Best answer first" in page and 'id="corrected-response"' not in page
    # The page shows the answers in this assignment's shuffled order, numbered 1..4, each select naming its answer's
    # entry.
    from annotation.selectors import candidates_shown

    order = [c.entry_id for c in candidates_shown(candidates, {}, seed=assignment.pk)]
    texts = _texts(order)
    assert [page.index(text) for text in texts] == sorted(page.index(text) for text in texts)
    assert [page.index(f'name="place_{entry}"') for entry in order] == sorted(
        page.index(f'name="place_{e}"') for e in order
    )
    assert f'id="candidate-1" data-number="1"><span class="role">Answer 1</span>{texts[0]}' in page
    url = reverse("annotation:assignment-submit", args=[assignment.pk])
    label = label_id(project.schema, "billing/refund")
    places = {f"place_{entry}": str(i + 1) for i, entry in enumerate(candidates)}
    half = dict(list(places.items())[:2])
    refused = client.post(url, {"label_ids": [label], "time_spent_ms": 5, **half})
    assert refused.status_code == 400 and "Give each of the 4 answers a place, 1 to 4." in refused.content.decode()
    # The places given so far come back selected.
    fieldset = refused.content.decode().split('id="ranking"')[1].split("</fieldset>")[0]
    assert fieldset.count(" selected>") == 2
    twice = {**places, f"place_{candidates[0]}": "2"}
    refused = client.post(url, {"label_ids": [label], "time_spent_ms": 5, **twice})
    assert refused.status_code == 400 and "Give every answer a place of its own." in refused.content.decode()
    reverse_places = {f"place_{entry}": str(len(candidates) - i) for i, entry in enumerate(candidates)}
    done = client.post(url, {"label_ids": [label], "time_spent_ms": 5, **reverse_places})
    assert done.status_code == 302
    assert Annotation.objects.get(assignment=assignment).ranking == candidates[::-1]


def test_workbench_order_is_stable_per_annotator_and_differs_between_them(ranking_project, users):
    from annotation.selectors import candidates_shown

    entries = list(range(100, 109))
    orders = {seed: [c.entry_id for c in candidates_shown(entries, {}, seed=seed)] for seed in range(20)}
    assert orders[3] == [c.entry_id for c in candidates_shown(entries, {}, seed=3)]
    assert len({tuple(order) for order in orders.values()}) > 10
    assert [c.entry_id for c in candidates_shown(entries, {}, seed=None)] == entries
    assert json.dumps([c.number for c in candidates_shown(entries, {}, seed=1)]) == json.dumps(list(range(1, 10)))
