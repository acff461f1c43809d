import pytest

from annotation.services import annotation_project_export, annotation_submit, assignment_claim_next
from annotation.services.export import correction_aggregate, labels_aggregate
from annotation.tests.fixtures import label_id, support_row
from common.errors import ApplicationError
from common.models import HistoryEvent
from datahub.models import DatasetVersion, Record


def _work(project, user, paths, correction="", schema=None):
    assignment = assignment_claim_next(project=project, annotator=user)
    schema = schema or project.schema
    annotation_submit(
        assignment=assignment,
        label_ids=[label_id(schema, p) for p in paths],
        corrected_response=correction,
        time_spent_ms=1,
        submitted_by=user,
    )
    return assignment


def test_export_labels_corrects_and_keeps_the_rest(annotation_project_factory, users):
    project = annotation_project_factory(n=3)
    source = project.dataset_version
    entries = list(source.entries.order_by("pk").select_related("record"))
    first = _work(project, users["crowd_annotator"], ["billing/refund"])
    second = _work(project, users["staff_annotator"], ["account/login"], correction="Reset it from the login page.")
    assert (first.task.entry_id, second.task.entry_id) == (entries[0].pk, entries[1].pk)

    version = annotation_project_export(project=project, created_by=users["ml_engineer"])

    assert (version.dataset_id, version.number, version.parent_id) == (source.dataset_id, 2, source.pk)
    assert version.operation == "annotation_export"
    assert (version.seed, version.ratios, version.counts) == (source.seed, source.ratios, source.counts)
    assert version.operation_detail == {
        "project_id": project.pk,
        "project": "Support topics",
        "schema": "Topic v1",
        "annotated": 2,
        "corrected": 1,
        "merged": 0,
        "overlap": 1,
        "aggregation": "majority",
        "rule": "majority, else plurality with ties kept; correction by most annotators, ties to the earliest",
    }
    corrected = Record.objects.get(origin="annotation")
    original = entries[1].record
    assert (corrected.parent_id, corrected.dataset_id, corrected.kind) == (original.pk, original.dataset_id, "sft")
    assert corrected.messages == original.messages[:-1] + [
        {"role": "assistant", "content": "Reset it from the login page."}
    ]
    assert corrected.prompt_hash == original.prompt_hash
    got = sorted(version.entries.values_list("record_id", "split", "labels"))
    assert got == sorted([
        (entries[0].record_id, entries[0].split, ["billing/refund"]),
        (corrected.pk, entries[1].split, ["account/login"]),
        (entries[2].record_id, entries[2].split, []),
    ])
    # The project's own version is frozen: it still holds the originals.
    assert sorted(source.entries.values_list("record_id", flat=True)) == sorted(e.record_id for e in entries)
    assert HistoryEvent.objects.get(verb="exported", target_id=project.pk).after["version"] == version.pk


def test_export_twice_makes_two_versions_reusing_the_corrected_record(annotation_project_factory, users):
    project = annotation_project_factory(n=1)
    _work(project, users["crowd_annotator"], ["billing/refund"], correction="Better answer.")
    v2 = annotation_project_export(project=project)
    v3 = annotation_project_export(project=project)
    assert (v2.number, v3.number, v3.parent_id) == (2, 3, project.dataset_version_id)
    assert Record.objects.filter(origin="annotation").count() == 1
    assert list(v3.entries.values_list("record_id", flat=True)) == list(v2.entries.values_list("record_id", flat=True))
    assert v2.manifest_hash == v3.manifest_hash


def test_overlap_three_keeps_the_majority_label_and_the_most_given_correction(annotation_project_factory, users):
    project = annotation_project_factory(n=1, overlap=3)
    _work(project, users["crowd_annotator"], ["billing/refund"], correction="Answer B.")
    _work(project, users["staff_annotator"], ["billing/invoice"], correction="Answer A.")
    _work(project, users["expert_annotator"], ["billing/refund"], correction="Answer A.")
    version = annotation_project_export(project=project)
    entry = version.entries.select_related("record").get()
    assert (entry.labels, entry.record.response_text) == (["billing/refund"], "Answer A.")


def test_no_annotations_no_export(annotation_project):
    with pytest.raises(ApplicationError) as error:
        annotation_project_export(project=annotation_project)
    assert str(error.value) == "project: the project has no submitted annotations to export"
    assert DatasetVersion.objects.count() == 1


def test_a_correction_equal_to_another_entry_merges_the_two(
    annotation_project_factory, annotation_version_factory, users
):
    rows = [support_row(0), support_row(0)]
    rows[1]["messages"][-1]["content"] = "Another answer."
    project = annotation_project_factory(version=annotation_version_factory(rows=rows))
    entries = list(project.dataset_version.entries.order_by("pk"))
    _work(project, users["crowd_annotator"], ["billing/refund"], correction="Another answer.")
    _work(project, users["staff_annotator"], ["billing/invoice"])
    version = annotation_project_export(project=project)
    assert list(version.entries.values_list("record_id", "labels")) == [
        (entries[1].record_id, ["billing/invoice", "billing/refund"])
    ]
    assert (version.operation_detail["merged"], version.operation_detail["corrected"]) == (1, 1)
    assert Record.objects.filter(origin="annotation").count() == 0


@pytest.mark.parametrize(("choices", "kept"), [
    ([["a"]], ["a"]),
    ([["a"], ["a"], ["b"]], ["a"]),
    ([["a"], ["b"]], ["a", "b"]),
    ([["a", "b"], ["a"], ["c"]], ["a"]),
    ([["a", "b"], ["a", "b"], ["c"]], ["a", "b"]),
    ([["a"], ["b"], ["c"], ["c"]], ["c"]),
    ([["a"], ["b"], ["c"], ["d"]], ["a", "b", "c", "d"]),
])
def test_labels_aggregate(choices, kept):
    assert labels_aggregate(choices) == kept


def test_correction_aggregate():
    assert correction_aggregate([]) == ""
    assert correction_aggregate(["x", "y"]) == "x"
    assert correction_aggregate(["x", "y", "y"]) == "y"
