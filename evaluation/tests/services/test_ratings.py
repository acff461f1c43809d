"""Blind 1–5 rating studies: items built from every arm's answers, served one at a time, rated on the rubric."""

import pytest

from common.errors import ApplicationError
from common.models import HistoryEvent
from evaluation.models import Answer, Rating, RatingItem, RatingShowing, Study
from evaluation.rating_queue import rating_waiting_count, ratings_counted
from evaluation.services import rating_item_gold_set, rating_serve, rating_submit, study_create
from evaluation.tests.fixtures import rate_item

BOTH = {"helpfulness": 4, "accuracy": 3}


def test_a_rating_study_rates_every_answer_of_every_arm_once_in_a_secret_order(open_rating_study):
    study = open_rating_study
    assert (study.kind, study.rubric, study.significance_level) == (
        "rating", [{"name": "helpfulness", "description": ""}, {"name": "accuracy", "description": ""}], 0.05)
    items = list(RatingItem.objects.filter(study=study))
    answers = set(Answer.objects.filter(prompt__study=study).values_list("pk", flat=True))
    assert len(items) == 8 and {item.answer_id for item in items} == answers  # 4 prompts x 2 arms
    assert sorted(item.order for item in items) == list(range(8))
    assert len({item.token for item in items}) == 8 and all(len(item.token) == 16 for item in items)
    assert not study.comparisons.exists()


def test_a_rater_is_served_the_same_item_until_rating_it_then_every_other_one(open_rating_study, users):
    rater = users["crowd_annotator"]
    first = rating_serve(study=open_rating_study, rater=rater)
    assert first.is_pending and rating_serve(study=open_rating_study, rater=rater).pk == first.pk
    assert rating_waiting_count(study=open_rating_study, rater=rater) == 8
    served = []
    while (showing := rating_serve(study=open_rating_study, rater=rater)) is not None:
        served.append(showing.item_id)
        rating_submit(item=showing.item, rater=rater, scores=BOTH)
    assert sorted(served) == sorted(RatingItem.objects.filter(study=open_rating_study).values_list("pk", flat=True))
    assert rating_waiting_count(study=open_rating_study, rater=rater) == 0
    assert not RatingShowing.objects.filter(is_pending=True).exists()
    rating = Rating.objects.get(item_id=served[0])
    assert (rating.scores, rating.item.rating_count) == (BOTH, 1)
    event = HistoryEvent.objects.get(target_type="evaluation.rating", target_id=rating.pk)
    assert (event.verb, event.actor, event.after) == ("rated", rater, {"item": served[0], "scores": BOTH})


@pytest.mark.parametrize(("scores", "where", "message"), [
    ({"helpfulness": 4}, "scores.accuracy", "needs a whole score from 1 to 5; got None"),
    ({"helpfulness": 6, "accuracy": 3}, "scores.helpfulness", "needs a whole score from 1 to 5; got 6"),
    ({"helpfulness": 0, "accuracy": 3}, "scores.helpfulness", "needs a whole score from 1 to 5; got 0"),
    ({"helpfulness": True, "accuracy": 3}, "scores.helpfulness", "needs a whole score from 1 to 5; got True"),
    ({**BOTH, "tone": 3}, "scores", "unknown criterion 'tone'; the rubric has helpfulness, accuracy"),
])
def test_scores_outside_the_rubric_are_refused_and_nothing_is_stored(open_rating_study, users, scores, where, message):
    rater = users["crowd_annotator"]
    showing = rating_serve(study=open_rating_study, rater=rater)
    with pytest.raises(ApplicationError) as error:
        rating_submit(item=showing.item, rater=rater, scores=scores)
    assert (error.value.where, error.value.message) == (where, message)
    assert not Rating.objects.exists() and RatingItem.objects.get(pk=showing.item_id).rating_count == 0


def test_an_item_never_served_or_rated_twice_is_refused(open_rating_study, users):
    rater = users["crowd_annotator"]
    item = RatingItem.objects.filter(study=open_rating_study).first()
    with pytest.raises(ApplicationError) as error:
        rating_submit(item=item, rater=rater, scores=BOTH)
    assert (error.value.code, error.value.message) == ("not_open", "this answer is not open for ratings")
    rate_item(item=item, rater=rater, scores=BOTH)
    with pytest.raises(ApplicationError) as error:
        rating_submit(item=item, rater=rater, scores=BOTH)
    assert (error.value.code, error.value.message) == ("already_voted", "you have already rated this answer")
    assert Rating.objects.count() == 1


def test_gold_items_leave_the_counted_ratings_and_repeats_follow_their_original(make_study, answer_studies, users):
    study = make_study(kind="rating", rubric=["overall"], repeat_rate=0.25, gold_rate=0.5)
    answer_studies()
    study.refresh_from_db()
    items = RatingItem.objects.filter(study=study)
    assert (items.filter(repeat_of=None).count(), items.exclude(repeat_of=None).count()) == (8, 2)
    repeat = items.exclude(repeat_of=None).first()
    assert repeat.answer_id == repeat.repeat_of.answer_id and repeat.token != repeat.repeat_of.token
    rating_item_gold_set(item=repeat.repeat_of, scores={"overall": 5}, actor=users["product_manager"])
    repeat.refresh_from_db()
    assert repeat.gold_scores == {"overall": 5}
    rater = users["crowd_annotator"]
    kinds = []
    while (showing := rating_serve(study=study, rater=rater)) is not None:
        item = showing.item
        kinds.append("repeat" if item.repeat_of_id else "gold" if item.gold_scores else "regular")
        if item.repeat_of_id:
            assert Rating.objects.filter(item_id=item.repeat_of_id, rater=rater).exists()
        rating_submit(item=item, rater=rater, scores={"overall": 3})
    assert sorted(kinds) == ["gold", "regular", "regular", "regular", "regular", "regular", "regular", "regular",
                             "repeat", "repeat"]
    assert ratings_counted(study=study).count() == 7  # the gold item and both repeats are left out
    with pytest.raises(ApplicationError) as error:
        rating_item_gold_set(item=repeat, scores={"overall": 5}, actor=users["product_manager"])
    assert error.value.message == "this is a repeat; mark its original item instead"


@pytest.mark.parametrize(("options", "where", "message"), [
    ({"kind": "ranking"}, "kind", "unknown kind 'ranking'; use pairwise or rating"),
    ({"kind": "rating", "rubric": ["a", "a"]}, "rubric[1].name", "the criterion 'a' is given twice"),
    ({"kind": "rating", "rubric": [{"name": " "}]}, "rubric[0].name", "a criterion needs a name"),
    ({"rubric": ["a"]}, "rubric", "a rubric belongs to a rating study; this one is pairwise"),
    ({"significance_level": 0.5}, "significance_level", "must be a number above 0 and below 0.5; got 0.5"),
])
def test_study_create_checks_the_kind_rubric_and_level(workspace, eval_version, tiny_base_model,
                                                       candidate_base_model, options, where, message):
    arms = [{"name": "a", "base_model": tiny_base_model, "is_baseline": True},
            {"name": "b", "base_model": candidate_base_model}]
    with pytest.raises(ApplicationError) as error:
        study_create(workspace=workspace, name="s", dataset_version=eval_version, arms=arms, **options)
    assert (error.value.where, error.value.message) == (where, message)
    assert not Study.objects.exists()


def test_a_rating_study_without_a_rubric_rates_overall(make_study):
    study = make_study(kind="rating")
    assert study.rubric == [{"name": "overall", "description": ""}]


def test_uploaded_gold_answers_join_the_queue_as_gold_items(open_rating_study, users):
    from evaluation.services import study_rating_gold_upload

    items = [{"messages": [{"role": "user", "content": "What is 2 + 2?"}], "answer": "5",
              "scores": {"helpfulness": 1, "accuracy": 1}},
             {"messages": [{"role": "user", "content": "Capital of France?"}], "answer": "Paris",
              "scores": {"helpfulness": 5, "accuracy": 5}}]
    assert study_rating_gold_upload(study=open_rating_study, items=items, actor=users["product_manager"]) == 2
    gold = RatingItem.objects.filter(study=open_rating_study, gold_scores__isnull=False).select_related("answer")
    assert sorted((item.answer.text, item.answer.arm_id, item.prompt.is_gold) for item in gold) == [
        ("5", None, True), ("Paris", None, True)]
    orders = list(RatingItem.objects.filter(study=open_rating_study).values_list("order", flat=True))
    assert sorted(orders) == list(range(10))  # after the eight answers, in a secret order of their own
    with pytest.raises(ApplicationError) as error:
        study_rating_gold_upload(study=open_rating_study, items=[{**items[0], "scores": {"helpfulness": 9}}],
                                 actor=users["product_manager"])
    assert (error.value.where, error.value.message) == ("gold line 1.scores.helpfulness",
                                                        "needs a whole score from 1 to 5; got 9")
    assert RatingItem.objects.filter(study=open_rating_study).count() == 10
