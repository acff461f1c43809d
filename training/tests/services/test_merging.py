import pytest

from common.errors import ApplicationError
from training.models import ModelArtifact
from training.services.generation import generate_replies
from training.services.merging import model_artifact_merge, model_artifact_merge_request

CONVERSATIONS = [[{"role": "user", "content": "Where is my package?"}], [{"role": "user", "content": "我想退货。"}]]


@pytest.mark.slow
def test_merged_weights_answer_like_the_base_with_the_adapter(tiny_artifact, users):
    merged = model_artifact_merge(artifact=tiny_artifact, merged_by=users["ml_engineer"])

    assert (merged.kind, merged.source, merged.run, merged.dataset_version) == (
        ModelArtifact.Kind.MERGED, tiny_artifact, None, tiny_artifact.dataset_version)
    assert merged.path == f"workspaces/{tiny_artifact.workspace_id}/artifacts/{tiny_artifact.pk}-merged"
    with_adapter = generate_replies(
        base_model=tiny_artifact.base_model, artifact=tiny_artifact, conversations=CONVERSATIONS, max_new_tokens=8
    )
    assert generate_replies(base_model=tiny_artifact.base_model, artifact=merged, conversations=CONVERSATIONS,
                            max_new_tokens=8) == with_adapter
    with pytest.raises(ApplicationError, match="is already merged"):
        model_artifact_merge_request(artifact=tiny_artifact)
    with pytest.raises(ApplicationError, match="only an adapter is merged"):
        model_artifact_merge_request(artifact=merged)
