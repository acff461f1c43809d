"""Fixtures for evaluation tests, shared through the root conftest.

eval_version          (function) a frozen version whose test split holds 3 conversations and 1 preference record
other_tiny_model_dir  (session) a second tiny chat model, same tokenizer texts, other random weights (seed 1)
candidate_base_model  (function) that second model registered in `workspace` as "tiny-chat-other"
make_study            (function) study_create with two arms, the generation job queued (not run)
open_study            (function) a two-arm study over `eval_version`, answers generated and comparisons built

vote_as_stored(...)   a helper, not a fixture: vote on a chosen comparison with a choice meant in its stored orientation
"""

import pytest

EVAL_ROWS = [
    {"kind": "sft", "messages": [
        {"role": "system", "content": "You are a helpful support assistant."},
        {"role": "user", "content": "Where is my package? It has not arrived yet."},
        {"role": "assistant", "content": "Your package left the warehouse yesterday."},
    ]},
    {"kind": "sft", "messages": [
        {"role": "user", "content": "How much does shipping cost?"},
        {"role": "assistant", "content": "Shipping is free for orders over 50 dollars."},
        {"role": "user", "content": "And for smaller orders?"},
        {"role": "assistant", "content": "It costs 5 dollars."},
    ]},
    {"kind": "sft", "messages": [
        {"role": "user", "content": "我想退货。"},
        {"role": "assistant", "content": "好的，请提供您的订单号。"},
    ]},
    {"kind": "preference", "messages": [{"role": "user", "content": "Can I change the delivery address?"}],
     "chosen": {"role": "assistant", "content": "Yes, as long as the order has not shipped."},
     "rejected": {"role": "assistant", "content": "No."}},
    {"kind": "sft", "messages": [
        {"role": "user", "content": "Thank you, that was helpful."},
        {"role": "assistant", "content": "You are welcome. Have a nice day!"},
    ]},
]
TEST_ROWS = 4  # the first four rows are the test split; the last one is train


@pytest.fixture
def eval_version(workspace):
    from datahub.models import DatasetVersion, Record
    from datahub.services.datasets import dataset_create
    from datahub.services.records import records_bulk_create
    from datahub.services.versions import dataset_version_create

    dataset = dataset_create(workspace=workspace, name="eval prompts")
    records_bulk_create(dataset=dataset, rows=EVAL_ROWS)
    ids = list(Record.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True))
    entries = [(pk, "test" if i < TEST_ROWS else "train", []) for i, pk in enumerate(ids)]
    return dataset_version_create(dataset=dataset, entries=entries, operation=DatasetVersion.Operation.FREEZE)


@pytest.fixture(scope="session")
def other_tiny_model_dir(tmp_path_factory):
    from training.tests.fixtures import tiny_training_texts
    from training.tiny_model import tiny_model_build

    return tiny_model_build(out_dir=tmp_path_factory.mktemp("tiny-model-other"), texts=tiny_training_texts(), vocab_size=600, seed=1)


@pytest.fixture
def candidate_base_model(workspace, other_tiny_model_dir):
    from training.services.base_models import base_model_register

    return base_model_register(workspace=workspace, name="tiny-chat-other", path=str(other_tiny_model_dir))


@pytest.fixture
def make_study(workspace, eval_version, tiny_base_model, candidate_base_model, users, django_capture_on_commit_callbacks):
    """Create a two-arm study (baseline: tiny-chat, candidate: tiny-chat-other, or `candidate_artifact`) through the service;
    the job is queued."""
    from evaluation.services import study_create

    def make(*, name: str = "Support answers", baseline=None, candidate=None, candidate_artifact=None, **options):
        options.setdefault("max_new_tokens", 8)
        candidate_model = {"artifact": candidate_artifact} if candidate_artifact else {"base_model": candidate or candidate_base_model}
        arms = [
            {"name": "baseline-arm", "base_model": baseline or tiny_base_model, "is_baseline": True},
            {"name": "candidate-arm", "is_baseline": False, **candidate_model},
        ]
        with django_capture_on_commit_callbacks(execute=True):
            return study_create(workspace=workspace, name=name, dataset_version=eval_version, arms=arms,
                                created_by=users["product_manager"], **options)

    return make


@pytest.fixture
def open_study(make_study, run_jobs):
    study = make_study()
    run_jobs()
    study.refresh_from_db()
    assert study.status == "open", study.error
    return study


def vote_as_stored(*, comparison, rater, choice: str, **options):
    """Cast `choice` meant in the comparison's stored orientation (left = left_answer), whatever sides the rater is
    shown: the comparison is shown to the rater (comparison_show) and the choice pressed as the rater sees it."""
    from evaluation.services import comparison_show, vote_submit

    showing = comparison_show(comparison=comparison, rater=rater)
    return vote_submit(comparison=comparison, rater=rater, choice=showing.choice_shown(choice), **options)
