"""Each rater's own sides: drawn when a comparison is first served, kept on reload, mirrored on a repeat, one
pending."""

import threading

import pytest
from django.db import connection, connections

from common.models import HistoryEvent
from evaluation.models import Comparison, Showing, Vote
from evaluation.queue import waiting_count
from evaluation.services import showing_serve, vote_submit


def test_a_reload_serves_the_same_showing_until_the_rater_votes(open_study, users):
    rater = users["crowd_annotator"]
    first = showing_serve(study=open_study, rater=rater)
    assert (first.is_pending, first.rater, first.study) == (True, rater, open_study)
    for _ in range(3):
        again = showing_serve(study=open_study, rater=rater)
        assert (again.pk, again.is_swapped, again.left_answer, again.right_answer) == (
            first.pk, first.is_swapped, first.left_answer, first.right_answer)
    assert Showing.objects.count() == 1
    assert waiting_count(study=open_study, rater=rater) == 4  # being served is not voting
    event = HistoryEvent.objects.get(target_type="evaluation.showing", target_id=first.pk)
    assert (event.verb, event.actor, event.after) == ("served", rater, {"comparison": first.comparison_id,
                                                                        "is_swapped": first.is_swapped})
    # The sides as shown are the stored ones, or both exchanged.
    stored = (first.comparison.left_answer, first.comparison.right_answer)
    assert (first.left_answer, first.right_answer) == (stored[::-1] if first.is_swapped else stored)
    vote_submit(comparison=first.comparison, rater=rater, choice="tie")
    served = [first.comparison_id]
    while (showing := showing_serve(study=open_study, rater=rater)) is not None:
        served.append(showing.comparison_id)
        vote_submit(comparison=showing.comparison, rater=rater, choice="tie")
    assert sorted(served) == sorted(Comparison.objects.filter(study=open_study).values_list("pk", flat=True))
    assert Showing.objects.filter(rater=rater).count() == 4 and not Showing.objects.filter(is_pending=True).exists()


def test_a_repeat_is_mirrored_against_the_sides_this_rater_saw(make_study, answer_studies, users):
    study = make_study(repeat_rate=1.0, votes_per_comparison=2)
    answer_studies()
    study.refresh_from_db()
    for rater in (users["crowd_annotator"], users["staff_annotator"]):
        shown = {}
        while (showing := showing_serve(study=study, rater=rater)) is not None:
            shown[showing.comparison_id] = (showing.comparison.repeat_of_id, showing.left_answer, showing.right_answer)
            vote_submit(comparison=showing.comparison, rater=rater, choice="left")
        assert len(shown) == 8  # four comparisons and their four mirrors
        for original, left, right in (value for value in shown.values() if value[0] is not None):
            assert (left, right) == (shown[original][2], shown[original][1])
    # Pressing left every time never picks the same answer twice: consistency 0, as the sides were swapped for them.
    for vote in Vote.objects.filter(comparison__repeat_of__isnull=False).select_related("comparison"):
        original = Vote.objects.get(comparison=vote.comparison.repeat_of_id, rater=vote.rater)
        assert vote.choice == original.choice  # mirrored stored orientation: the same stored choice is the other answer


def test_a_vote_from_before_showings_were_kept_mirrors_against_the_stored_orientation(
    make_study, answer_studies, users
):
    """What the 0008 migration leaves: every earlier vote has a showing with the stored sides (is_swapped False)."""
    study = make_study(repeat_rate=1.0)
    answer_studies()
    study.refresh_from_db()
    rater = users["crowd_annotator"]
    showing = showing_serve(study=study, rater=rater)
    Showing.objects.filter(pk=showing.pk).update(is_swapped=False)
    vote_submit(comparison=showing.comparison, rater=rater, choice="left")
    mirror = Comparison.objects.get(repeat_of=showing.comparison)
    while (following := showing_serve(study=study, rater=rater)).comparison != mirror:
        vote_submit(comparison=following.comparison, rater=rater, choice="tie")
    assert following.is_swapped is False
    assert (following.left_answer, following.right_answer) == (
        showing.comparison.right_answer,
        showing.comparison.left_answer,
    )


def _in_threads(work, count: int) -> list:
    results, errors = [None] * count, []
    barrier = threading.Barrier(count)

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:  # noqa: BLE001 - reported to the test below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent inserts against a partial unique index need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)  # the tabs are threads, each with its own connection
def test_tabs_racing_to_be_served_end_with_one_showing_and_one_vote(open_study, users, api_for):
    rater = users["crowd_annotator"]
    tabs = 6
    served = _in_threads(lambda i: api_for(rater).get(f"/api/v1/studies/{open_study.pk}/next/").json(), tabs)
    assert all(body == served[0] for body in served)
    assert Showing.objects.filter(rater=rater).count() == 1
    token = served[0]["token"]
    statuses = _in_threads(lambda i: api_for(rater).post(f"/api/v1/comparisons/{token}/vote/", {"choice": "left"},
                                                         format="json").status_code, tabs)
    assert sorted(statuses) == [201] + [400] * (tabs - 1)
    assert Vote.objects.count() == 1 and Comparison.objects.get(token=token).vote_count == 1
