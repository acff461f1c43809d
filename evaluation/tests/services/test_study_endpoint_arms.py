"""Arms that are model endpoints: answers come over the chat-completions protocol from Whetstone's own server."""

import pytest

from common.errors import ApplicationError
from evaluation.models import Answer, Arm, Study
from evaluation.selectors import study_arm_rows
from evaluation.services import study_create, study_generate
from llm.models import ModelCall

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_endpoint_arm_answers_through_the_model_server(
    workspace, eval_version, candidate_base_model, tiny_endpoint, users, django_capture_on_commit_callbacks
):
    arms = [{"name": "served", "endpoint": tiny_endpoint, "is_baseline": True},
            {"name": "local", "base_model": candidate_base_model, "is_baseline": False}]
    with django_capture_on_commit_callbacks(execute=False):
        study = study_create(workspace=workspace, name="Served vs local", dataset_version=eval_version, arms=arms,
                             max_new_tokens=6, created_by=users["product_manager"])
    study = study_generate(study=study)
    assert study.status == Study.Status.OPEN, study.error
    served = Arm.objects.get(study=study, name="served")
    assert Answer.objects.filter(arm=served).count() == 4
    assert ModelCall.objects.filter(endpoint=tiny_endpoint).count() == 4
    assert [row["model_kind"] for row in study_arm_rows(study=study)] == ["endpoint", "base_model"]
    assert study.comparisons.count() == 4


def test_an_unreachable_endpoint_fails_the_study_with_the_reason(
    workspace, eval_version, candidate_base_model, make_endpoint, django_capture_on_commit_callbacks
):
    missing = make_endpoint(model="no-such-model", name="nothing here", max_retries=0)
    arms = [{"name": "local", "base_model": candidate_base_model, "is_baseline": True},
            {"name": "served", "endpoint": missing, "is_baseline": False}]
    with django_capture_on_commit_callbacks(execute=False):
        study = study_create(
            workspace=workspace, name="Broken", dataset_version=eval_version, arms=arms, max_new_tokens=4
        )
    study = study_generate(study=study)
    assert study.status == Study.Status.FAILED
    assert study.error.startswith("generating the answers of arm 'served' failed: ")
    assert "nothing here" in study.error
    assert Answer.objects.filter(prompt__study=study).count() == 0


def test_an_arm_with_an_endpoint_and_a_model_is_refused(workspace, eval_version, candidate_base_model, tiny_endpoint):
    arms = [{"name": "both", "endpoint": tiny_endpoint, "base_model": candidate_base_model, "is_baseline": True},
            {"name": "local", "base_model": candidate_base_model, "is_baseline": False}]
    with pytest.raises(ApplicationError) as error:
        study_create(workspace=workspace, name="Bad", dataset_version=eval_version, arms=arms)
    assert (error.value.where, error.value.message) == (
        "arms[0]", "an arm needs exactly one model: a base model, a model artifact or a model endpoint")
    assert Study.objects.count() == 0
