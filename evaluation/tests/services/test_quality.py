"""Gold comparisons, side-swapped repeats and leaving a rater out: what raters are served, and what the results
count."""

import pytest

from common.errors import ApplicationError
from common.models import HistoryEvent
from datahub.models import DatasetVersion
from evaluation.models import Answer, Comparison, RaterExclusion, Showing, StudyPrompt, Vote
from evaluation.queue import REPEAT_GAP, waiting_count
from evaluation.reliability import study_rater_reliability
from evaluation.selectors import study_counts, study_results
from evaluation.services import (
    comparison_gold_set,
    comparison_show,
    showing_serve,
    study_gold_upload,
    study_rater_exclude,
    study_rater_include,
    study_votes_export,
    vote_submit,
)

GOLD_ITEMS = [
    {"messages": [{"role": "user", "content": "What is 2 + 2?"}], "chosen": "4", "rejected": "5"},
    {
        "messages": [{"role": "user", "content": "Capital of France?"}],
        "chosen": {"role": "assistant", "content": "Paris"},
        "rejected": "Berlin",
    },
]


@pytest.fixture
def quality_study(make_study, answer_studies):
    """Four regular comparisons, two of them repeated with the sides swapped, a 30% gold share."""
    study = make_study(repeat_rate=0.5, gold_rate=0.3)
    answer_studies()
    study.refresh_from_db()
    assert study.status == "open", study.error
    return study


def _gold_side(showing: Showing) -> str:
    """The side this rater sees the gold answer on."""
    return "left" if showing.comparison.gold_answer_id == showing.left_answer.pk else "right"


def _candidate_side(seen: Comparison | Showing) -> str:
    """The side of the candidate's answer: stored (a comparison) or as a rater sees it (a showing)."""
    return "left" if seen.left_answer.arm.name == "candidate-arm" else "right"


def _vote_through(study, rater, choose) -> list[Comparison]:
    """Vote on everything the queue serves `rater`, choosing with `choose(showing)` as the rater sees the sides; the
    comparisons in serving order."""
    served = []
    while (showing := showing_serve(study=study, rater=rater)) is not None:
        comparison = showing.comparison
        before = waiting_count(study=study, rater=rater)
        vote_submit(comparison=comparison, rater=rater, choice=choose(showing), time_spent_ms=1000 + len(served))
        assert waiting_count(study=study, rater=rater) == before - 1  # the count never tells what kind a comparison was
        served.append(Comparison.objects.select_related("left_answer__arm", "right_answer__arm").get(pk=comparison.pk))
        assert len(served) < 50
    return served


def test_repeats_are_mirrors_with_the_sides_swapped(quality_study):
    mirrors = list(Comparison.objects.filter(study=quality_study, repeat_of__isnull=False).select_related("repeat_of"))
    assert len(mirrors) == 2  # half of four
    for mirror in mirrors:
        original = mirror.repeat_of
        assert (mirror.prompt_id, mirror.left_answer_id, mirror.right_answer_id) == (
            original.prompt_id, original.right_answer_id, original.left_answer_id)
        assert mirror.token != original.token and mirror.repeat_of.repeat_of_id is None
    assert study_counts(study=quality_study) == {
        "prompts": 4,
        "comparisons": 4,
        "identical": 0,
        "gold": 0,
        "repeats": 2,
        "votes": 0,
        "counted_votes": 0,
    }


def test_a_rater_who_always_presses_left_is_0_percent_consistent_and_repeats_count_once(quality_study, users):
    rater = users["crowd_annotator"]
    served = _vote_through(quality_study, rater, lambda c: "left")
    assert len(served) == 6  # four comparisons and two repeats
    positions = {c.pk: i for i, c in enumerate(served)}
    for c in served:
        if c.repeat_of_id:
            assert positions[c.pk] - positions[c.repeat_of_id] > REPEAT_GAP or positions[c.pk] >= 4  # later, never next
    [row] = study_rater_reliability(study=quality_study)
    assert (row.votes, row.counted_votes, row.repeats, row.repeats_consistent, row.consistency) == (6, 4, 2, 0, 0.0)
    [result] = study_results(study=quality_study)
    assert result.summary.votes == 4  # the first vote of each comparison; the repeats are not counted again
    assert study_counts(study=quality_study)["votes"] == 6 and study_counts(study=quality_study)["counted_votes"] == 4


def test_a_rater_who_picks_the_same_answer_on_either_side_is_100_percent_consistent(quality_study, users):
    rater = users["crowd_annotator"]
    _vote_through(quality_study, rater, _candidate_side)
    [row] = study_rater_reliability(study=quality_study)
    assert (row.repeats, row.repeats_consistent, row.consistency) == (2, 2, 1.0)
    [result] = study_results(study=quality_study)
    assert (result.summary.wins, result.summary.votes) == (4, 4)


def test_gold_is_served_to_every_rater_scored_and_left_out_of_the_results(quality_study, users):
    pm, careful, careless = users["product_manager"], users["crowd_annotator"], users["staff_annotator"]
    marked = (
        Comparison.objects.filter(study=quality_study, repeat_of=None)
        .select_related("left_answer__arm")
        .order_by("order")
        .first()
    )
    comparison_gold_set(comparison=marked, better=_candidate_side(marked), actor=pm)
    assert study_gold_upload(study=quality_study, items=GOLD_ITEMS, actor=pm) == 2
    assert StudyPrompt.objects.filter(study=quality_study, is_gold=True).count() == 2
    assert Answer.objects.filter(prompt__study=quality_study, arm=None).count() == 4
    counts = study_counts(study=quality_study)
    assert (counts["prompts"], counts["comparisons"], counts["gold"], counts["repeats"]) == (4, 3, 3, 2)

    served = _vote_through(quality_study, careful, lambda s: _gold_side(s) if s.comparison.gold_answer_id else "tie")
    # 3 regular + 3 gold + the repeats of those repeated originals that are not gold (a gold original's mirror is gold
    # too).
    mirrors = Comparison.objects.filter(study=quality_study, repeat_of__isnull=False).count()
    assert len(served) == 3 + 3 + mirrors
    assert sum(1 for c in served if c.gold_answer_id and c.repeat_of_id is None) == 3
    _vote_through(quality_study, careless,
                  lambda s: ("right" if _gold_side(s) == "left" else "left") if s.comparison.gold_answer_id else "tie")
    rows = {row.username: row for row in study_rater_reliability(study=quality_study)}
    assert (
        rows["crowd_annotator"].gold_votes,
        rows["crowd_annotator"].gold_correct,
        rows["crowd_annotator"].gold_accuracy,
        rows["crowd_annotator"].flagged,
    ) == (3, 3, 1.0, False)
    assert (
        rows["staff_annotator"].gold_votes,
        rows["staff_annotator"].gold_accuracy,
        rows["staff_annotator"].flagged,
    ) == (3, 0.0, True)
    # Gold and repeat votes stay out: each regular comparison got one vote (votes_per_comparison 1), careful's ties.
    [result] = study_results(study=quality_study)
    assert (result.summary.votes, result.summary.ties) == (3, 3)
    assert study_counts(study=quality_study)["counted_votes"] == 3

    study_rater_exclude(study=quality_study, rater=careless, actor=pm, reason="wrong on every gold item")
    assert study_rater_reliability(study=quality_study)[1].excluded is True
    event = HistoryEvent.objects.filter(
        target_type="evaluation.study", target_id=quality_study.pk, verb="rater_excluded"
    ).get()
    assert (event.actor, event.after) == (pm, {"rater": careless.pk, "reason": "wrong on every gold item"})
    # The careless rater got no regular comparison (each had its one vote already), so the results stay at 3.
    assert study_results(study=quality_study)[0].summary.votes == 3
    study_rater_include(study=quality_study, rater=careless, actor=pm)
    assert not RaterExclusion.objects.exists()
    assert (
        HistoryEvent.objects.filter(
            target_id=quality_study.pk, target_type="evaluation.study", verb="rater_included"
        ).count()
        == 1
    )


def test_excluding_a_rater_takes_their_votes_out_of_the_results_and_the_export(quality_study, users):
    pm, rater = users["product_manager"], users["crowd_annotator"]
    _vote_through(quality_study, rater, _candidate_side)
    assert study_results(study=quality_study)[0].summary.votes == 4
    study_rater_exclude(study=quality_study, rater=rater, actor=pm)
    assert study_results(study=quality_study)[0].summary.votes == 0
    with pytest.raises(ApplicationError) as error:
        study_votes_export(study=quality_study, dataset_name="pairs", created_by=pm)
    assert error.value.message == "no comparison of this study has a preferred answer yet (only ties, or no votes)"
    with pytest.raises(ApplicationError) as again:
        study_rater_exclude(study=quality_study, rater=rater, actor=pm)
    assert again.value.code == "already_excluded"
    study_rater_include(study=quality_study, rater=rater, actor=pm)
    version = study_votes_export(study=quality_study, dataset_name="pairs", created_by=pm)
    assert (version.operation, version.operation_detail) == (
        DatasetVersion.Operation.EVALUATION_VOTES,
        {"study": quality_study.pk, "pairs": 4},
    )


def test_marking_gold_is_refused_on_a_repeat_and_for_a_bad_side(quality_study, users):
    pm = users["product_manager"]
    mirror = Comparison.objects.filter(study=quality_study, repeat_of__isnull=False).first()
    with pytest.raises(ApplicationError) as error:
        comparison_gold_set(comparison=mirror, better="left", actor=pm)
    assert error.value.message == "this is a side-swapped repeat; mark its original comparison instead"
    with pytest.raises(ApplicationError) as bad:
        comparison_gold_set(comparison=mirror.repeat_of, better="middle", actor=pm)
    assert bad.value.message == "better must be left, right or none; got 'middle'"
    assert not Comparison.objects.filter(gold_answer__isnull=False).exists()
    # Marking the original marks its mirror with the same answer; unmarking clears both.
    comparison_gold_set(comparison=mirror.repeat_of, better="left", actor=pm)
    mirror.refresh_from_db()
    assert mirror.gold_answer_id == mirror.repeat_of.left_answer_id == mirror.right_answer_id
    comparison_gold_set(comparison=mirror.repeat_of, better=None, actor=pm)
    assert not Comparison.objects.filter(gold_answer__isnull=False).exists()
    assert list(HistoryEvent.objects.filter(target_id=quality_study.pk, target_type="evaluation.study",
                                            verb__startswith="gold").values_list("verb", flat=True).order_by("pk")) == [
        "gold_marked", "gold_unmarked"]


@pytest.mark.parametrize(
    ("items", "message", "where"),
    [
        ([], "no gold items given", "gold"),
        (
            [{"messages": [{"role": "user", "content": "Hi"}], "chosen": "Hello"}],
            'expected {"messages": [...], "chosen": ..., "rejected": ...}',
            "gold line 1",
        ),
        (
            [GOLD_ITEMS[0], {"messages": [{"role": "user", "content": "Hi"}], "chosen": "Same ", "rejected": "Same"}],
            "the better and the worse answer are the same text",
            "gold line 2",
        ),
        (
            [{"messages": [{"role": "user", "content": "Hi"}], "chosen": "", "rejected": "No"}],
            "needs a non-empty answer (text, or a message with content)",
            "gold line 1.chosen",
        ),
    ],
)
def test_bad_gold_uploads_are_refused_and_create_nothing(quality_study, users, items, message, where):
    with pytest.raises(ApplicationError) as error:
        study_gold_upload(study=quality_study, items=items, actor=users["product_manager"])
    assert (error.value.message, error.value.where) == (message, where)
    assert (
        not StudyPrompt.objects.filter(is_gold=True).exists()
        and not Comparison.objects.filter(gold_answer__isnull=False).exists()
    )


def test_an_uploaded_gold_comparison_cannot_be_unmarked_but_may_be_corrected(quality_study, users):
    pm = users["product_manager"]
    study_gold_upload(study=quality_study, items=GOLD_ITEMS[:1], actor=pm)
    gold = Comparison.objects.get(study=quality_study, gold_answer__isnull=False)
    with pytest.raises(ApplicationError) as error:
        comparison_gold_set(comparison=gold, better=None, actor=pm)
    assert error.value.message == "an uploaded gold comparison stays gold; you may only change which answer is better"
    other = "right" if gold.gold_answer_id == gold.left_answer_id else "left"
    comparison_gold_set(comparison=gold, better=other, actor=pm)
    gold.refresh_from_db()
    assert gold.gold_answer.text == "5"


def test_a_repeat_cannot_be_voted_on_before_its_original(quality_study, users):
    mirror = Comparison.objects.filter(study=quality_study, repeat_of__isnull=False).first()
    comparison_show(comparison=mirror, rater=users["crowd_annotator"])  # even shown, by a script
    with pytest.raises(ApplicationError) as error:
        vote_submit(comparison=mirror, rater=users["crowd_annotator"], choice="left")
    assert (error.value.message, error.value.code) == ("this comparison is not open for votes", "not_open")
    assert Vote.objects.count() == 0


@pytest.mark.parametrize(("options", "message", "where"), [
    ({"gold_rate": 1.0}, "must be between 0 and 1 (below 1); got 1.0", "gold_rate"),
    ({"repeat_rate": -0.1}, "must be between 0 and 1; got -0.1", "repeat_rate"),
    ({"gold_threshold": "high"}, "must be a number between 0 and 1; got 'high'", "gold_threshold"),
])
def test_study_quality_settings_are_checked(make_study, options, message, where):
    from evaluation.models import Study

    with pytest.raises(ApplicationError) as error:
        make_study(**options)
    assert (error.value.message, error.value.where) == (message, where)
    assert not Study.objects.exists()
