import pytest
from django_tasks_db.models import DBTaskResult

from common.errors import ApplicationError
from common.models import HistoryEvent
from datahub.models import DatasetVersion, Record
from datahub.services.datasets import dataset_create
from datahub.services.records import records_bulk_create
from datahub.services.versions import dataset_version_create
from evaluation.models import Arm, Study, StudyPrompt
from evaluation.services import study_create
from evaluation.tests.fixtures import EVAL_ROWS
from training.models import ModelArtifact
from training.services.base_models import base_model_register


def _arms(baseline, candidate):
    return [
        {"name": "base", "base_model": baseline, "is_baseline": True},
        {"name": "cand", "base_model": candidate, "is_baseline": False},
    ]


def _create(**overrides):
    options = {"name": "Support answers", "created_by": None}
    options.update(overrides)
    return study_create(**options)


def _refused(message: str, where: str, **kwargs):
    with pytest.raises(ApplicationError) as error:
        _create(**kwargs)
    assert (error.value.message, error.value.where) == (message, where)
    assert Study.objects.count() == 0
    assert Arm.objects.count() == 0
    assert StudyPrompt.objects.count() == 0


def test_study_create_takes_prompts_from_the_split_and_queues_generation(
    workspace, eval_version, tiny_base_model, candidate_base_model, users, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        study = study_create(
            workspace=workspace,
            name="  Support answers ",
            dataset_version=eval_version,
            question="Which helps more?",
            arms=_arms(tiny_base_model, candidate_base_model),
            created_by=users["product_manager"],
        )
    assert len(callbacks) == 1
    assert (study.name, study.status, study.progress, study.split, study.created_by) == (
        "Support answers", "generating", 0.0, "test", users["product_manager"])
    assert list(study.arms.order_by("name").values_list("name", "is_baseline", "base_model_id")) == [
        ("base", True, tiny_base_model.pk), ("cand", False, candidate_base_model.pk)]
    prompts = list(study.prompts.order_by("order"))
    assert [p.order for p in prompts] == [0, 1, 2, 3]
    records = Record.objects.in_bulk([p.record_id for p in prompts])
    assert [p.messages for p in prompts] == [
        EVAL_ROWS[0]["messages"][:2],  # the conversation up to its last assistant answer
        EVAL_ROWS[1]["messages"][:3],
        EVAL_ROWS[2]["messages"][:1],
        EVAL_ROWS[3]["messages"],  # a preference record: its prompt
    ]
    assert {records[p.record_id].kind for p in prompts} == {"sft", "preference"}
    job = DBTaskResult.objects.get()
    assert (job.task_path, job.queue_name, job.args_kwargs) == (
        "evaluation.tasks.study_generate_task", "default", {"args": [], "kwargs": {"study_id": study.pk}})
    event = HistoryEvent.objects.get(target_type="evaluation.study", target_id=study.pk)
    assert (event.verb, event.actor, event.after["prompts"]) == ("created", users["product_manager"], 4)


def test_study_create_samples_max_prompts_with_the_seed(workspace, eval_version, tiny_base_model, candidate_base_model):
    arms = _arms(tiny_base_model, candidate_base_model)
    first = _create(workspace=workspace, dataset_version=eval_version, arms=arms, max_prompts=2, seed=7)
    again = _create(workspace=workspace, dataset_version=eval_version, arms=arms, max_prompts=2, seed=7, name="again")
    ids = list(first.prompts.order_by("order").values_list("record_id", flat=True))
    assert len(ids) == 2
    assert ids == list(again.prompts.order_by("order").values_list("record_id", flat=True))


def test_fewer_than_two_arms_is_refused(workspace, eval_version, tiny_base_model):
    _refused("a study needs at least two arms; got 1", "arms", workspace=workspace, dataset_version=eval_version,
             arms=[{"name": "base", "base_model": tiny_base_model, "is_baseline": True}])


@pytest.mark.parametrize(("flags", "got"), [((False, False), 0), ((True, True), 2)])
def test_exactly_one_baseline(workspace, eval_version, tiny_base_model, candidate_base_model, flags, got):
    arms = _arms(tiny_base_model, candidate_base_model)
    arms[0]["is_baseline"], arms[1]["is_baseline"] = flags
    _refused(
        f"a study needs exactly one baseline arm; got {got}",
        "arms",
        workspace=workspace,
        dataset_version=eval_version,
        arms=arms,
    )


def test_an_arm_needs_exactly_one_model(workspace, eval_version, tiny_base_model):
    arms = [
        {"name": "base", "base_model": tiny_base_model, "is_baseline": True},
        {"name": "cand", "is_baseline": False},
    ]
    _refused(
        "an arm needs exactly one model: a base model, a model artifact or a model endpoint",
        "arms[1]",
        workspace=workspace,
        dataset_version=eval_version,
        arms=arms,
    )


def test_arm_names_must_differ(workspace, eval_version, tiny_base_model, candidate_base_model):
    arms = _arms(tiny_base_model, candidate_base_model)
    arms[1]["name"] = "base"
    _refused(
        "two arms are named 'base'; arm names must differ",
        "arms[1].name",
        workspace=workspace,
        dataset_version=eval_version,
        arms=arms,
    )


def test_arms_must_be_in_the_study_workspace(workspace, other_workspace, eval_version, tiny_base_model, tiny_model_dir):
    elsewhere = base_model_register(workspace=other_workspace, name="theirs", path=str(tiny_model_dir))
    _refused(
        "base model 'theirs' belongs to another workspace",
        "arms[1]",
        workspace=workspace,
        dataset_version=eval_version,
        arms=_arms(tiny_base_model, elsewhere),
    )


def test_an_artifact_arm_is_accepted(workspace, eval_version, tiny_base_model):
    artifact = ModelArtifact.objects.create(
        workspace=workspace, name="tiny-sft", base_model=tiny_base_model, path="runs/1/adapter"
    )
    arms = [{"name": "base", "base_model": tiny_base_model, "is_baseline": True},
            {"name": "sft", "artifact": artifact, "is_baseline": False}]
    study = _create(workspace=workspace, dataset_version=eval_version, arms=arms)
    assert study.arms.get(name="sft").artifact == artifact


def test_the_split_must_have_prompts(workspace, eval_version, tiny_base_model, candidate_base_model):
    _refused("the validation split of eval prompts v1 has no records to use as prompts", "split", workspace=workspace,
             dataset_version=eval_version, arms=_arms(tiny_base_model, candidate_base_model), split="validation")


def test_an_unknown_split_is_refused(workspace, eval_version, tiny_base_model, candidate_base_model):
    _refused(
        "unknown split 'dev'; use train, validation or test",
        "split",
        workspace=workspace,
        dataset_version=eval_version,
        arms=_arms(tiny_base_model, candidate_base_model),
        split="dev",
    )


def test_the_dataset_version_must_be_in_the_workspace(
    workspace, other_workspace, tiny_base_model, candidate_base_model
):
    dataset = dataset_create(workspace=other_workspace, name="theirs")
    records_bulk_create(dataset=dataset, rows=EVAL_ROWS[:1])
    version = dataset_version_create(dataset=dataset, entries=[(dataset.records.get().pk, "test", [])],
                                     operation=DatasetVersion.Operation.FREEZE)
    _refused(
        "dataset version theirs v1 belongs to another workspace",
        "dataset_version",
        workspace=workspace,
        dataset_version=version,
        arms=_arms(tiny_base_model, candidate_base_model),
    )


@pytest.mark.parametrize(("field", "value", "message"), [
    ("votes_per_comparison", 0, "must be a whole number of at least 1; got 0"),
    ("max_prompts", 0, "must be a whole number of at least 1; got 0"),
    ("max_new_tokens", 5000, "must be at most 4096; got 5000"),
])
def test_sizes_are_checked(workspace, eval_version, tiny_base_model, candidate_base_model, field, value, message):
    _refused(
        message,
        field,
        workspace=workspace,
        dataset_version=eval_version,
        arms=_arms(tiny_base_model, candidate_base_model),
        **{field: value},
    )


def test_a_name_is_required(workspace, eval_version, tiny_base_model, candidate_base_model):
    _refused("a name is required", "name", workspace=workspace, dataset_version=eval_version,
             arms=_arms(tiny_base_model, candidate_base_model), name="  ")


@pytest.mark.parametrize(("labels", "message", "where"), [
    (["tone", " "], "a label must be non-empty text", "labels[1]"),
    (["tone", "tone "], "the label 'tone' is given twice", "labels[1]"),
    (["x" * 65], "the label is 65 characters; the limit is 64", "labels[0]"),
    ([f"l{i}" for i in range(21)], "21 labels; the limit is 20", "labels"),
])
def test_labels_are_checked(workspace, eval_version, tiny_base_model, candidate_base_model, labels, message, where):
    _refused(
        message,
        where,
        workspace=workspace,
        dataset_version=eval_version,
        arms=_arms(tiny_base_model, candidate_base_model),
        labels=labels,
    )


def test_labels_are_kept_stripped(workspace, eval_version, tiny_base_model, candidate_base_model):
    study = _create(
        workspace=workspace,
        dataset_version=eval_version,
        arms=_arms(tiny_base_model, candidate_base_model),
        labels=[" tone", "facts "],
    )
    assert Study.objects.get(pk=study.pk).labels == ["tone", "facts"]
