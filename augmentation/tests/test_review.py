import pytest

from augmentation.services.review import augmentation_run_accept, candidates_accept_passing, candidates_decide
from augmentation.services.runs import augmentation_run_create, augmentation_run_execute
from common.errors import ApplicationError
from common.models import HistoryEvent
from datahub.models import DatasetVersion, Record, VersionRecord


@pytest.fixture
def eda_run(version):
    run = augmentation_run_create(version=version, methods=["eda"], options={"seed": 1}, run_in_background=False)
    return augmentation_run_execute(run=run)


@pytest.mark.django_db
def test_accept_passing_then_reject_one_then_version(eda_run, version, users):
    assert candidates_accept_passing(run=eda_run) == eda_run.passing_count == 12
    rejected = eda_run.candidates.order_by("pk").first()
    assert (
        candidates_decide(run=eda_run, candidate_ids=[rejected.pk], decision="rejected", actor=users["ml_engineer"])
        == 1
    )
    new = augmentation_run_accept(run=eda_run, created_by=users["ml_engineer"])
    assert new.operation == DatasetVersion.Operation.AUGMENTATION
    assert new.parent == version
    assert new.number == 2
    assert new.counts == {"train": 3 + 11, "validation": 0, "test": 1}
    assert new.operation_detail["added"] == {"eda": 11}
    children = Record.objects.filter(origin="augmentation").order_by("pk")
    assert children.count() == 11
    for child in children:
        assert child.parent_id is not None
        assert child.tags == ["augmented:eda"]
        assert child.raw["augmentation"]["run"] == eda_run.pk
        assert child.messages[-1] == child.parent.messages[-1]
    # No child in a test split, and every child sits in its parent's split.
    splits = dict(VersionRecord.objects.filter(version=new).values_list("record_id", "split"))
    assert all(splits[c.pk] == splits[c.parent_id] == "train" for c in children)
    assert VersionRecord.objects.filter(version=new, split="test").count() == 1
    assert HistoryEvent.objects.filter(target_type="augmentation.augmentationrun", verb="accepted").count() == 1


@pytest.mark.django_db
def test_accept_needs_an_accepted_candidate_and_happens_once(eda_run):
    with pytest.raises(ApplicationError) as error:
        augmentation_run_accept(run=eda_run)
    assert error.value.code == "empty"
    candidates_accept_passing(run=eda_run)
    augmentation_run_accept(run=eda_run)
    with pytest.raises(ApplicationError) as error:
        augmentation_run_accept(run=eda_run)
    assert error.value.code == "accepted"
    assert DatasetVersion.objects.filter(operation="augmentation").count() == 1


@pytest.mark.django_db
def test_decide_refuses_candidates_of_another_run(eda_run, version):
    other = augmentation_run_execute(
        run=augmentation_run_create(version=version, methods=["eda"], run_in_background=False)
    )
    foreign = other.candidates.first()
    with pytest.raises(ApplicationError):
        candidates_decide(run=eda_run, candidate_ids=[foreign.pk], decision="accepted")
    assert eda_run.candidates.filter(decision="accepted").count() == 0


@pytest.mark.django_db
def test_a_failing_candidate_can_be_accepted_by_a_person(make_version):
    version = make_version(train=[("Hello", "Hi."), ("Please help me", "Sure.")])
    run = augmentation_run_execute(
        run=augmentation_run_create(version=version, methods=["eda"], run_in_background=False)
    )
    unchanged = run.candidates.filter(reason="unchanged").first()
    candidates_decide(run=run, candidate_ids=[unchanged.pk], decision="accepted")
    # Its content is the parent's own: the version gains nothing from it, and no record is duplicated.
    new = augmentation_run_accept(run=run)
    assert sum(new.counts.values()) == 2
    assert new.operation_detail["added"] == {}


@pytest.mark.django_db
def test_an_empty_candidate_cannot_be_accepted(eda_run):
    candidate = eda_run.candidates.first()
    type(candidate).objects.filter(pk=candidate.pk).update(
        text="", row={}, content_hash="", reason="empty", is_passing=False
    )
    with pytest.raises(ApplicationError) as error:
        candidates_decide(run=eda_run, candidate_ids=[candidate.pk], decision="accepted")
    assert (
        error.value.message
        == f"candidate {candidate.pk} is not a valid record (empty or malformed) and cannot be accepted"
    )
