"""A member of another workspace names this workspace's model by id, over HTTP against the project's server: in a slot
of their own, for a scorecard, for an export. Each is refused (the id is as unknown as a missing one) and nothing is
written."""

import pytest

from releases.models import Deployment, Scorecard
from training.models import ModelExport

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def outsider_pm(make_user, other_workspace):
    return make_user("outsider-pm", role="product_manager", workspace=other_workspace)


def test_another_workspaces_model_cannot_serve_in_a_slot_be_scored_or_exported(
    http, users, outsider_pm, other_workspace, tiny_artifact, tiny_base_model
):
    as_pm = http.as_user(outsider_pm)
    slot = as_pm.post("/api/v1/deployments/", json={"workspace": other_workspace.pk, "name": "stolen-bot",
                                                    "production_artifact": tiny_artifact.pk})
    assert slot.status_code == 400 and slot.json()["where"] == "production", slot.text
    base = as_pm.post("/api/v1/deployments/", json={"workspace": other_workspace.pk, "name": "stolen-bot",
                                                    "production_base_model": tiny_base_model.pk})
    assert base.status_code == 400, base.text

    scorecard = as_pm.post("/api/v1/scorecards/", json={"artifact": tiny_artifact.pk})
    assert scorecard.status_code == 404, scorecard.text

    as_ml = http.as_user(users["outsider"])
    export = as_ml.post(f"/api/v1/model-artifacts/{tiny_artifact.pk}/exports/", json={"format": "onnx"})
    assert export.status_code == 404, export.text

    assert (Deployment.objects.count(), Scorecard.objects.count(), ModelExport.objects.count()) == (0, 0, 0)
