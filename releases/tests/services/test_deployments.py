"""Slots, the release gate, promotion, override, rollback, the sticky traffic split and resolving a slot."""

import pytest

from common.errors import ApplicationError
from common.models import HistoryEvent
from releases.gate import deployment_gate
from releases.models import Deployment
from releases.routing import candidate_answers
from releases.selectors import deployment_resolve
from releases.services.deployments import (
    deployment_candidate_set,
    deployment_create,
    deployment_promote,
    deployment_rollback,
)
from releases.services.scorecards import release_policy_set, scorecard_compute, scorecard_create

GB = 1024**3


@pytest.fixture
def slot(workspace, tiny_base_model, tiny_artifact, users):
    deployment = deployment_create(workspace=workspace, name="support-bot", production=tiny_base_model,
                                   created_by=users["product_manager"])
    return deployment_candidate_set(deployment=deployment, candidate=tiny_artifact, share=0.1, support_band_low=0.5,
                                    set_by=users["product_manager"])


def _history(deployment) -> list[str]:
    return list(HistoryEvent.objects.filter(target_type="releases.deployment", target_id=deployment.pk)
                .order_by("pk").values_list("verb", flat=True))


def test_without_evidence_the_gate_blocks_on_all_three_and_says_why(slot, users):
    gate = deployment_gate(deployment=slot)
    assert [(c.key, c.state) for c in gate.conditions] == [("study", "missing"), ("general", "missing"),
                                                          ("scorecard", "missing")]
    assert gate.conditions[0].reason == "No blind study of the candidate against the production model."
    with pytest.raises(ApplicationError) as refused:
        deployment_promote(deployment=slot, promoted_by=users["product_manager"])
    assert (refused.value.where, refused.value.code) == ("gate", "conflict")
    assert refused.value.message.startswith("the release gate blocks the promotion: No blind study")
    slot.refresh_from_db()
    assert slot.production_base_model_id is not None and slot.candidate_artifact_id is not None
    assert _history(slot) == ["created", "candidate_set"]


def test_only_an_admin_overrides_and_only_with_a_reason(slot, users, tiny_artifact, tiny_base_model):
    with pytest.raises(ApplicationError) as refused:
        deployment_promote(deployment=slot, promoted_by=users["product_manager"], override_reason="we need it now")
    assert refused.value.where == "override_reason"
    with pytest.raises(ApplicationError) as short:
        deployment_promote(deployment=slot, promoted_by=users["admin"], override_reason="asap")
    assert short.value.message == "write why the gate is overridden (at least 10 characters)"
    assert _history(slot) == ["created", "candidate_set"]

    promoted = deployment_promote(deployment=slot, promoted_by=users["admin"],
                                  override_reason="Legal asked for the new refund wording today.")
    assert (promoted.production, promoted.candidate, promoted.previous) == (tiny_artifact, None, tiny_base_model)
    event = HistoryEvent.objects.filter(target_type="releases.deployment", verb="overridden").get()
    assert event.after["override_reason"] == "Legal asked for the new refund wording today."
    assert [c["state"] for c in event.after["gate"]["conditions"]] == ["missing", "missing", "missing"]
    assert event.actor == users["admin"]

    rolled = deployment_rollback(deployment=promoted, rolled_back_by=users["product_manager"])
    assert (rolled.production, rolled.previous) == (tiny_base_model, None)
    assert _history(slot) == ["created", "candidate_set", "overridden", "rolled_back"]
    with pytest.raises(ApplicationError) as nothing:
        deployment_rollback(deployment=rolled, rolled_back_by=users["product_manager"])
    assert nothing.value.where == "previous"


@pytest.mark.slow
def test_a_proven_candidate_passes_the_gate_and_is_promoted(
    slot, users, workspace, tiny_artifact, tiny_base_model, voted_study, general_check, merged_artifact,
    run_peak_memory,
):
    # The target task carries most of the weight here, so the total clears 4 whatever speed the tiny model shows.
    release_policy_set(workspace=workspace, weights={"task": 0.6, "general": 0.1, "speed": 0.1, "resources": 0.1,
                                                     "deployability": 0.1})
    run_peak_memory(GB)
    scorecard = scorecard_compute(scorecard=scorecard_create(artifact=tiny_artifact))
    gate = deployment_gate(deployment=slot)
    assert [c.state for c in gate.conditions] == ["pass", "pass", "pass"], [c.reason for c in gate.conditions]
    assert gate.conditions[0].evidence == {"kind": "study", "id": voted_study.pk, "name": voted_study.name}
    assert gate.conditions[0].reason.startswith("Support rate interval ") and "lies above 50.0%" in \
        gate.conditions[0].reason
    assert gate.conditions[2].evidence["id"] == scorecard.pk

    # The PM raises the band above what the interval supports: the same evidence now blocks.
    slot = deployment_candidate_set(deployment=slot, candidate=tiny_artifact, share=0.1, support_band_low=0.95,
                                    set_by=users["product_manager"])
    assert deployment_gate(deployment=slot).conditions[0].state == "fail"
    slot = deployment_candidate_set(deployment=slot, candidate=tiny_artifact, share=0.1, support_band_low=0.5,
                                    set_by=users["product_manager"])

    promoted = deployment_promote(deployment=slot, promoted_by=users["product_manager"])
    assert (promoted.production, promoted.previous, promoted.candidate) == (tiny_artifact, tiny_base_model, None)
    assert _history(slot)[-1] == "promoted"


def test_the_split_is_sticky_per_end_user_and_grows_without_moving_anyone(workspace):
    users = [f"customer-{i}" for i in range(4000)]
    at_10 = {u for u in users if candidate_answers(workspace_id=workspace.pk, slot="support-bot", end_user=u,
                                                   share=0.1)}
    at_20 = {u for u in users if candidate_answers(workspace_id=workspace.pk, slot="support-bot", end_user=u,
                                                   share=0.2)}
    again = {u for u in users if candidate_answers(workspace_id=workspace.pk, slot="support-bot", end_user=u,
                                                   share=0.1)}
    assert at_10 == again and at_10 < at_20
    assert 340 <= len(at_10) <= 460 and 700 <= len(at_20) <= 900  # binomial 4000 × p, beyond 4 standard deviations
    other_slot = {u for u in users if candidate_answers(workspace_id=workspace.pk, slot="sales-bot", end_user=u,
                                                        share=0.1)}
    assert other_slot != at_10


def test_resolve_names_the_model_and_its_server_id(slot, workspace, tiny_artifact, tiny_base_model):
    users = [f"customer-{i}" for i in range(200)]
    resolved = [deployment_resolve(workspace=workspace, name="support-bot", end_user=u) for u in users]
    roles = {r.role for r in resolved}
    assert roles == {"production", "candidate"}
    for item in resolved:
        expected = (tiny_artifact, f"{workspace.pk}/artifacts/{tiny_artifact.pk}") if item.role == "candidate" \
            else (tiny_base_model, f"{workspace.pk}/tiny-chat")
        assert (item.model, item.model_id) == expected
    assert deployment_resolve(workspace=workspace, name="no-such-slot", end_user="x") is None


def test_names_and_models_are_checked(workspace, other_workspace, tiny_base_model, users):
    with pytest.raises(ApplicationError) as bad_name:
        deployment_create(workspace=workspace, name="Support Bot", production=tiny_base_model)
    assert bad_name.value.where == "name"
    deployment_create(workspace=workspace, name="support-bot", production=tiny_base_model)
    with pytest.raises(ApplicationError) as clash:
        deployment_create(workspace=workspace, name="support-bot", production=tiny_base_model)
    assert (clash.value.where, clash.value.code) == ("name", "conflict")
    with pytest.raises(ApplicationError) as elsewhere:
        deployment_create(workspace=other_workspace, name="support-bot", production=tiny_base_model)
    assert elsewhere.value.where == "production"
    assert Deployment.objects.count() == 1
