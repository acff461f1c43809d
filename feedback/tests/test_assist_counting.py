"""The counting rule of the online support rate: a pick among two answers of one model and two of another is ONE
comparison, for the best-of-N support rate and for the assist preset of a slot (which adds the verdict of studies)."""

import pytest

from common.statistics import wilson_interval
from evaluation.statistics.support import band_claimed, verdict_for
from feedback.selectors import assist_support_rates, feedback_support_rates
from feedback.services import feedback_events_ingest
from feedback.tests.conftest import make_choice

pytestmark = pytest.mark.django_db

PRODUCTION = {"kind": "base_model", "id": 1, "name": "tiny-chat"}
CANDIDATE = {"kind": "artifact", "id": 2, "name": "tiny-tuned"}


def assist_choice(i: int, *, sides: list[str], chosen: int, deployment: int = 7, slot: str = "support-bot",
                  candidate: dict = CANDIDATE, edited: bool = False) -> dict:
    names = {"production": "prod (m1)", "candidate": "cand (m2)"}
    answers = [(f"reply {k}", names[side]) for k, side in enumerate(sides)]
    metadata = {"assist": {"deployment": deployment, "slot": slot, "production": PRODUCTION, "candidate": candidate},
                "sides": sides, "edited": edited}
    return make_choice(i, question="Where is my parcel?", answers=answers, chosen=chosen, metadata=metadata)


def test_a_two_plus_two_pick_is_one_comparison(workspace, feedback_source):
    feedback_events_ingest(source=feedback_source, events=[
        make_choice(1, question="Q", answers=[("a", "base"), ("b", "tuned"), ("c", "base"), ("d", "tuned")], chosen=1),
    ])
    rows = {row.model: row for row in feedback_support_rates(workspace=workspace)}
    assert (rows["tuned"].shown, rows["tuned"].chosen, rows["tuned"].wins, rows["tuned"].losses) == (2, 1, 1, 0)
    assert (rows["base"].shown, rows["base"].chosen, rows["base"].wins, rows["base"].losses) == (2, 0, 0, 1)
    assert rows["tuned"].support_rate == 1.0
    assert (rows["tuned"].support_low, rows["tuned"].support_high) == wilson_interval(1, 1)


def test_three_models_in_one_pick_are_one_comparison_per_other_model(workspace, feedback_source):
    feedback_events_ingest(source=feedback_source, events=[
        make_choice(1, question="Q", answers=[("a", "x"), ("b", "x"), ("c", "y"), ("d", "z"), ("e", "z")], chosen=0),
    ])
    rows = {row.model: (row.wins, row.losses) for row in feedback_support_rates(workspace=workspace)}
    assert rows == {"x": (2, 0), "y": (0, 1), "z": (0, 1)}


def test_assist_picks_count_once_with_the_interval_and_the_verdict_of_studies(workspace, feedback_source):
    sides = ["candidate", "production", "production", "candidate"]
    events = [assist_choice(i, sides=sides, chosen=0 if i < 18 else 1, edited=i == 3) for i in range(20)]
    # Another pair of the same slot (after a new candidate) and another slot are counted apart.
    events.append(assist_choice(20, sides=sides, chosen=1, candidate={"kind": "artifact", "id": 9, "name": "new"}))
    events.append(assist_choice(21, sides=sides, chosen=3, deployment=8, slot="billing-bot"))
    # A choice without both sides shown is no comparison of the two models.
    events.append(assist_choice(22, sides=["production"] * 4, chosen=0))
    assert feedback_events_ingest(source=feedback_source, events=events).statuses == ["accepted"] * 23

    rows = assist_support_rates(workspace=workspace)
    assert [(r.slot, r.candidate["name"], r.picks, r.candidate_wins, r.edits) for r in rows] == [
        ("billing-bot", "tiny-tuned", 1, 1, 0), ("support-bot", "tiny-tuned", 20, 18, 1),
        ("support-bot", "new", 1, 0, 0)]
    slot = rows[1]
    low, high = wilson_interval(18, 20)
    assert (slot.rate, slot.low, slot.high) == (0.9, low, high)
    assert slot.low == pytest.approx(0.6990, abs=1e-4) and slot.high == pytest.approx(0.9721, abs=1e-4)
    assert slot.verdict == verdict_for(0.9, low, high, 20)
    assert (slot.verdict.band, slot.verdict.leaning, slot.verdict.is_conclusive) == (
        "inconclusive", "marked_improvement", False)
    # Counted as two comparisons each (the old rule), the same picks are 36 of 40: an interval about √2 narrower that
    # would claim a success the picks do not show.
    assert band_claimed(*wilson_interval(36, 40)) == "success"

    only = assist_support_rates(workspace=workspace, deployment_id=8)
    assert [(r.slot, r.picks) for r in only] == [("billing-bot", 1)]
    assert only[0].verdict.band == "inconclusive"
