"""The release pages: the scorecard with its rules and evidence links, the model page's lineage, the registry, a
version's models, a slot with its gate; fixed query counts; access."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.services.deployments import deployment_candidate_set, deployment_create
from releases.services.scorecards import scorecard_compute, scorecard_create

GB = 1024**3


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.slow
def test_every_page_of_the_release_decision_shows_its_evidence(
    client, users, workspace, tiny_artifact, tiny_base_model, voted_study, general_check, merged_artifact,
    run_peak_memory, sft_version,
):
    run_peak_memory(2 * GB)
    scorecard = scorecard_compute(scorecard=scorecard_create(artifact=tiny_artifact))
    client.force_login(users["product_manager"])

    page = client.get(f"/models/scorecards/{scorecard.pk}/").content.decode()
    assert page.count('<tr id="dimension-') == 5
    assert f'href="/studies/{voted_study.pk}/"' in page and f'href="/general-checks/{general_check.pk}/"' in page
    assert f'href="/training/runs/{tiny_artifact.run_id}/"' in page  # the peak memory's run
    assert "marked improvement" in page and "2.00 GB" in page and "McNemar p" in page
    assert "From the latest blind pairwise study" in page  # the rule beside the score
    assert 'id="speed-measurements"' in page and "@media print" not in page
    assert "frontend/releases.css" in page

    lineage = client.get(f"/models/artifacts/{tiny_artifact.pk}/").content.decode()
    assert f'href="/data/versions/{sft_version.pk}/"' in lineage
    assert f'href="/training/runs/{tiny_artifact.run_id}/"' in lineage
    assert f'href="/models/artifacts/{merged_artifact.pk}/"' in lineage
    assert f'href="/models/scorecards/{scorecard.pk}/"' in lineage and "a marked improvement" in lineage
    assert f'href="/general-checks/{general_check.pk}/"' in lineage

    base_page = client.get(f"/models/base-models/{tiny_base_model.pk}/").content.decode()
    assert f'href="/models/artifacts/{tiny_artifact.pk}/"' in base_page and "baseline" in base_page

    registry = client.get("/models/").content.decode()
    assert registry.count("<tr>") == 1 + 4  # header; tiny-chat and tiny-chat-other (make_study); adapter; merge
    assert "a marked improvement" in registry

    version = client.get(f"/data/versions/{sft_version.pk}/").content.decode()
    assert 'id="version-model-table"' in version and "a marked improvement" in version

    slot = deployment_create(workspace=workspace, name="support-bot", production=tiny_base_model)
    deployment_candidate_set(deployment=slot, candidate=tiny_artifact, share=0.1, support_band_low=0.5)
    gate = client.get(f"/models/deployments/{slot.pk}/").content.decode()
    assert gate.count('<li class="pass"') == 2 or gate.count('<li class="pass"') == 3
    assert 'id="gate-study"' in gate and "lies above 50.0%" in gate


def test_a_scorecard_without_evidence_says_what_is_missing(client, users, tiny_artifact):
    """Rendered from a scorecard computed for real, whose evidence (study, check, peak memory) does not exist."""
    scorecard = scorecard_compute(scorecard=scorecard_create(artifact=tiny_artifact))
    client.force_login(users["ml_engineer"])
    page = client.get(f"/models/scorecards/{scorecard.pk}/").content.decode()
    assert "No total" in page and "Target task, General ability, Resource use" in page
    assert page.count('class="missing"') == 3
    assert "Compute again" not in page  # an ML engineer reads scorecards; product managers and admins compute them


def test_the_registry_costs_the_same_queries_for_one_and_ten_models(client, users, make_artifacts, open_study):
    client.force_login(users["product_manager"])
    make_artifacts(1)
    one = _count(client, "/models/")
    make_artifacts(9)
    # session, user, the view's capability check, nav memberships, base models, artifacts with their latest
    # scorecard, arms of the models' studies, their votes
    assert _count(client, "/models/") == one == 8


def test_the_deployment_list_costs_the_same_queries_for_one_and_ten_slots(client, users, workspace,
                                                                           tiny_base_model):
    client.force_login(users["product_manager"])
    deployment_create(workspace=workspace, name="slot-0", production=tiny_base_model)
    one = _count(client, "/models/deployments/")
    for i in range(1, 10):
        deployment_create(workspace=workspace, name=f"slot-{i}", production=tiny_base_model)
    assert _count(client, "/models/deployments/") == one


def test_pages_are_scoped_to_the_workspace(client, users, workspace, tiny_base_model, tiny_artifact):
    slot = deployment_create(workspace=workspace, name="support-bot", production=tiny_base_model)
    scorecard = scorecard_create(artifact=tiny_artifact)
    client.force_login(users["outsider"])
    for url in (f"/models/deployments/{slot.pk}/", f"/models/scorecards/{scorecard.pk}/",
                f"/models/artifacts/{tiny_artifact.pk}/"):
        assert client.get(url).status_code == 404
    client.force_login(users["crowd_annotator"])
    assert client.get("/models/").status_code == 404
    client.force_login(users["ml_engineer"])
    assert client.post(f"/models/deployments/{slot.pk}/promote/").status_code == 403
