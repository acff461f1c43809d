"""Migration 0008: votes cast before showings were kept stay valid, and comparisons keep their stored orientation."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from evaluation.models import Comparison, Showing, Vote
from evaluation.selectors import study_results
from evaluation.services import showing_serve, vote_submit

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BEFORE = [("evaluation", "0007_rater_quality_gold_repeats")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_earlier_votes_get_showings_with_the_stored_sides_and_count_as_before(open_study, users):
    rater, other = users["crowd_annotator"], users["staff_annotator"]
    comparisons = list(Comparison.objects.filter(study=open_study).order_by("order"))
    sides = {c.pk: (c.left_answer_id, c.right_answer_id) for c in comparisons}
    try:
        old = _migrate(BEFORE)
        OldVote, OldComparison = old.get_model("evaluation", "Vote"), old.get_model("evaluation", "Comparison")
        for comparison, voter, choice in [(comparisons[0], rater, "left"), (comparisons[1], rater, "right"),
                                          (comparisons[1], other, "tie")]:
            OldVote.objects.create(comparison_id=comparison.pk, rater_id=voter.pk, choice=choice)
            OldComparison.objects.filter(pk=comparison.pk).update(
                vote_count=OldVote.objects.filter(comparison_id=comparison.pk).count()
            )
    finally:
        # Forward to the newest state of every app, not to 0008 alone: later migrations' tables must come back too.
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert {c.pk: (c.left_answer_id, c.right_answer_id) for c in Comparison.objects.filter(study=open_study)} == sides
    showings = list(
        Showing.objects.order_by("pk").values_list("study_id", "comparison_id", "rater_id", "is_swapped", "is_pending")
    )
    assert showings == [(open_study.pk, comparisons[0].pk, rater.pk, False, False),
                        (open_study.pk, comparisons[1].pk, rater.pk, False, False),
                        (open_study.pk, comparisons[1].pk, other.pk, False, False)]
    for vote in Vote.objects.all():
        assert Showing.objects.get(comparison=vote.comparison, rater=vote.rater).served_at == vote.created_at
    assert study_results(study=open_study)[0].summary.votes == 3
    # The rater carries on where they left off, with sides of their own from now on.
    showing = showing_serve(study=open_study, rater=rater)
    assert showing.comparison_id in {comparisons[2].pk, comparisons[3].pk}
    vote_submit(comparison=showing.comparison, rater=rater, choice="left")
    assert study_results(study=open_study)[0].summary.votes == 4
