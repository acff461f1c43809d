"""The demo's release decision: a general-capability check of the fine-tune against its base (on everyday questions
the project writes itself, demo/data/everyday_knowledge_test.jsonl), its scorecard, and a deployment slot
`support-bot` answering with the base model, the fine-tune its candidate at the release gate. Nothing is promoted:
the product manager decides in the browser (Models → Deployments)."""

from collections.abc import Callable
from pathlib import Path

from django.db import transaction

from evaluation.services.general_eval import general_eval_create
from releases.gate import deployment_gate
from releases.services.deployments import deployment_candidate_set, deployment_create
from releases.services.scorecards import scorecard_create

GENERAL_CHECK = Path(__file__).resolve().parent / "data" / "everyday_knowledge_test.jsonl"
SLOT = "support-bot"
CANDIDATE_SHARE = 0.1


def demo_release_prepare(*, workspace, base_model, run, people: dict, run_jobs: Callable[[], None],
                         say: Callable[[str], None]) -> dict:
    """Check, score and stage the fine-tune `run.artifact` against `base_model`; returns the check, the scorecard,
    the slot and its gate."""
    ml, pm = people["ml"], people["pm"]
    with transaction.atomic():
        check = general_eval_create(workspace=workspace, name="Everyday knowledge kept?", baseline=base_model,
                                    candidate=run.artifact, shots=0, tolerance=0.1, created_by=pm,
                                    test_uploads=[(GENERAL_CHECK.name, GENERAL_CHECK.read_bytes())])
    run_jobs()
    check.refresh_from_db()
    with transaction.atomic():
        scorecard = scorecard_create(artifact=run.artifact, created_by=pm)
    run_jobs()
    scorecard.refresh_from_db()
    with transaction.atomic():
        slot = deployment_create(workspace=workspace, name=SLOT, production=base_model, created_by=ml)
        slot = deployment_candidate_set(deployment=slot, candidate=run.artifact, share=CANDIDATE_SHARE,
                                        support_band_low=0.5, set_by=pm)
    gate = deployment_gate(deployment=slot)
    total = f"{scorecard.total:.2f} of 5" if scorecard.total is not None else "incomplete"
    missing = [d["key"] for d in scorecard.dimensions if d.get("score") is None]
    say(f"general check {check.name!r}: {check.status}; scorecard of {run.name}: {total}"
        f"{' (missing: ' + ', '.join(missing) + ')' if missing else ''}; slot {SLOT!r} answers with the base model, "
        f"{run.name} its candidate for {CANDIDATE_SHARE:.0%} of users; the release gate "
        + ("is open" if gate.passed else "blocks promotion: " + "; ".join(c.reason for c in gate.blocking)))
    return {"general_check": check, "scorecard": scorecard, "slot": slot, "gate": gate}
