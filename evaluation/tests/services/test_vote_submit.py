import pytest

from common.errors import ApplicationError
from common.models import HistoryEvent
from evaluation.models import Comparison, Showing, Vote
from evaluation.selectors import comparisons_open_for_rater, study_results
from evaluation.services import comparison_show, showing_serve, vote_submit
from evaluation.tests.fixtures import vote_as_stored


def _candidate_side(comparison: Comparison) -> str:
    return "left" if comparison.left_answer.arm.name == "candidate-arm" else "right"


@pytest.mark.parametrize("is_swapped", [False, True])
def test_a_vote_is_stored_in_the_comparisons_orientation_counted_and_recorded(open_study, users, is_swapped):
    rater = users["crowd_annotator"]
    showing = showing_serve(study=open_study, rater=rater)
    Showing.objects.filter(pk=showing.pk).update(is_swapped=is_swapped)  # either draw of the coin
    comparison = showing.comparison
    vote = vote_submit(comparison=comparison, rater=rater, choice="left", reason=" clearer ", time_spent_ms=4200)
    stored = "right" if is_swapped else "left"  # the answer the rater saw on the left
    assert (vote.choice, vote.reason, vote.time_spent_ms, vote.rater) == (stored, "clearer", 4200, rater)
    comparison.refresh_from_db()
    assert comparison.vote_count == 1
    event = HistoryEvent.objects.get(target_type="evaluation.vote", target_id=vote.pk)
    assert (event.verb, event.actor, event.after) == ("voted", rater, {"comparison": comparison.pk, "choice": stored,
                                                                       "shown_choice": "left"})
    assert Showing.objects.get(pk=showing.pk).is_pending is False
    following = showing_serve(study=open_study, rater=rater)
    assert following.comparison != comparison and following.is_pending


def test_a_second_vote_by_the_same_rater_is_refused_and_changes_nothing(open_study, users):
    rater = users["crowd_annotator"]
    comparison = showing_serve(study=open_study, rater=rater).comparison
    vote = vote_submit(comparison=comparison, rater=rater, choice="left", time_spent_ms=100)
    with pytest.raises(ApplicationError) as error:
        vote_submit(comparison=comparison, rater=rater, choice="right", time_spent_ms=100)
    assert (error.value.message, error.value.where, error.value.code) == (
        "you have already voted on this comparison", "comparison", "already_voted")
    comparison.refresh_from_db()
    assert comparison.vote_count == 1
    assert list(Vote.objects.values_list("pk", "choice")) == [(vote.pk, vote.choice)]


def test_a_comparison_never_served_to_the_rater_takes_no_vote(open_study, users):
    served = showing_serve(study=open_study, rater=users["staff_annotator"]).comparison
    with pytest.raises(ApplicationError) as error:
        vote_submit(comparison=served, rater=users["crowd_annotator"], choice="left")
    assert (error.value.message, error.value.code) == ("this comparison is not open for votes", "not_open")
    assert not Vote.objects.exists() and Comparison.objects.filter(vote_count__gt=0).count() == 0


@pytest.mark.parametrize(
    ("kwargs", "message", "where"),
    [
        ({"choice": "middle"}, "unknown choice 'middle'; choose one of left, right, tie, both_bad", "choice"),
        (
            {"choice": "tie", "time_spent_ms": -1},
            "time spent must be between 0 and 86400000 milliseconds; got -1",
            "time_spent_ms",
        ),
    ],
)
def test_bad_votes_are_refused(open_study, users, kwargs, message, where):
    comparison = showing_serve(study=open_study, rater=users["crowd_annotator"]).comparison
    with pytest.raises(ApplicationError) as error:
        vote_submit(comparison=comparison, rater=users["crowd_annotator"], **kwargs)
    assert (error.value.message, error.value.where) == (message, where)
    assert Vote.objects.count() == 0
    assert Comparison.objects.filter(vote_count__gt=0).count() == 0


def test_a_comparison_with_enough_votes_goes_to_nobody_else(open_study, users):
    first, second = users["crowd_annotator"], users["staff_annotator"]
    comparison = showing_serve(study=open_study, rater=first).comparison
    vote_submit(comparison=comparison, rater=first, choice="tie")
    assert comparisons_open_for_rater(study=open_study, rater=second).count() == 3
    served = set()
    while (showing := showing_serve(study=open_study, rater=second)) is not None:
        served.add(showing.comparison)
        vote_submit(comparison=showing.comparison, rater=second, choice="tie")
    assert served == set(Comparison.objects.filter(study=open_study).exclude(pk=comparison.pk))


def test_a_served_comparison_filled_meanwhile_is_let_go_on_the_next_reload(open_study, users):
    first, second = users["crowd_annotator"], users["staff_annotator"]
    held = showing_serve(study=open_study, rater=first)
    vote_as_stored(comparison=held.comparison, rater=second, choice="tie")  # the one vote it wants, from someone else
    following = showing_serve(study=open_study, rater=first)
    assert following.comparison != held.comparison and following.is_pending
    assert Showing.objects.get(pk=held.pk).is_pending is False
    # A vote from a page still open on the filled comparison is kept, as when two raters race for it.
    vote_submit(comparison=held.comparison, rater=first, choice="left")
    assert Comparison.objects.get(pk=held.comparison.pk).vote_count == 2
    assert showing_serve(study=open_study, rater=first) == following


def test_with_two_votes_per_comparison_every_rater_sees_it_until_full(make_study, answer_studies, users):
    study = make_study(votes_per_comparison=2)
    answer_studies()
    study.refresh_from_db()
    raters = [users["crowd_annotator"], users["staff_annotator"], users["expert_annotator"]]
    comparison = showing_serve(study=study, rater=raters[0]).comparison
    vote_submit(comparison=comparison, rater=raters[0], choice="tie")
    assert showing_serve(study=study, rater=raters[0]).comparison != comparison
    vote_as_stored(comparison=comparison, rater=raters[1], choice="left")
    assert comparisons_open_for_rater(study=study, rater=raters[2]).count() == 3
    assert comparison not in comparisons_open_for_rater(study=study, rater=raters[2])


def test_results_map_left_and_right_back_to_the_arms(make_study, answer_studies, users):
    study = make_study(votes_per_comparison=2, labels=["tone", "facts"])
    answer_studies()
    study.refresh_from_db()
    comparisons = list(Comparison.objects.filter(study=study).select_related("left_answer__arm").order_by("order"))
    first, second = users["crowd_annotator"], users["reviewer"]
    other = {"left": "right", "right": "left"}
    # first: the candidate wins three times and loses once; second: a tie, both bad, and a candidate win.
    for comparison, pick_candidate in zip(comparisons, [True, True, True, False]):
        side = _candidate_side(comparison)
        vote_as_stored(comparison=comparison, rater=first, choice=side if pick_candidate else other[side],
                       label="tone" if pick_candidate else "facts")
    vote_as_stored(comparison=comparisons[0], rater=second, choice="tie")
    vote_as_stored(comparison=comparisons[1], rater=second, choice="both_bad")
    vote_as_stored(comparison=comparisons[2], rater=second, choice=_candidate_side(comparisons[2]))

    [result] = study_results(study=study)
    assert (result.baseline.name, result.candidate.name) == ("baseline-arm", "candidate-arm")
    s = result.summary
    assert (s.wins, s.losses, s.ties, s.both_bad, s.votes, s.decisive) == (4, 1, 1, 1, 7, 5)
    assert s.support_rate == 5 / 7
    assert (s.win_rate, s.decisive_win_rate) == (4 / 7, 4 / 5)
    assert s.sign_test_p == 0.375
    # Per label: "tone" holds the first rater's three candidate wins, "facts" its one loss; the second rater gave none.
    assert {label: (x.wins, x.losses, x.votes) for label, x in result.labels.items()} == {
        "facts": (0, 1, 1),
        "tone": (3, 0, 3),
    }
    # Agreement on the three comparisons both judged: win/tie and win/both-bad disagree, win/win agrees.
    a = result.agreement
    assert (a.items, a.pairs, a.agreement, a.decisive_pairs, a.decisive_agreement) == (3, 3, 1 / 3, 1, 1.0)
    assert result.length.votes == 7 and result.length.raw_rate == 5 / 7
    assert result.bootstrap_low <= 5 / 7 <= result.bootstrap_high


def test_a_vote_label_must_be_one_of_the_study_labels(open_study, users):
    comparison = showing_serve(study=open_study, rater=users["crowd_annotator"]).comparison
    with pytest.raises(ApplicationError) as error:
        vote_submit(comparison=comparison, rater=users["crowd_annotator"], choice="tie", label="tone")
    assert (error.value.where, error.value.message) == (
        "label",
        "unknown label 'tone'; choose one of the study's labels or none",
    )
    assert not Vote.objects.exists()


def test_no_votes_on_a_study_that_is_not_open(make_study, users):
    study = make_study()  # the job is queued but not run: still generating
    assert showing_serve(study=study, rater=users["crowd_annotator"]) is None
    assert not Showing.objects.exists()


def test_identical_comparisons_take_no_votes(make_study, tiny_base_model, answer_studies, users):
    study = make_study(candidate=tiny_base_model)
    answer_studies()
    comparison = Comparison.objects.filter(study=study).first()
    comparison_show(comparison=comparison, rater=users["crowd_annotator"])  # even with sides drawn, it takes no vote
    with pytest.raises(ApplicationError) as error:
        vote_submit(comparison=comparison, rater=users["crowd_annotator"], choice="left")
    assert (error.value.message, error.value.code) == ("this comparison is not open for votes", "not_open")
    assert Vote.objects.count() == 0
