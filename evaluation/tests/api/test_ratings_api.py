"""Rating studies over the REST API: create, rate blind, read the results; who may do what."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evaluation.models import Rating, RatingItem, Study
from evaluation.tests.fixtures import rate_item


def test_a_product_manager_creates_a_rating_study(users, api_for, workspace, eval_version, tiny_base_model,
                                                  candidate_base_model):
    body = {"workspace": workspace.pk, "name": "Rated", "dataset_version": eval_version.pk, "kind": "rating",
            "rubric": ["helpfulness", {"name": "tone", "description": "polite?"}], "significance_level": 0.1,
            "arms": [{"name": "a", "base_model": tiny_base_model.pk, "is_baseline": True},
                     {"name": "b", "base_model": candidate_base_model.pk}]}
    response = api_for(users["product_manager"]).post("/api/v1/studies/", body, format="json")
    assert response.status_code == 201 and response.json()["kind"] == "rating"
    detail = api_for(users["product_manager"]).get(f"/api/v1/studies/{response.json()['id']}/").json()
    assert (detail["kind"], detail["significance_level"]) == ("rating", 0.1)
    assert detail["rubric"] == [{"name": "helpfulness", "description": ""}, {"name": "tone", "description": "polite?"}]


def test_a_bad_rubric_is_a_400_naming_the_criterion(users, api_for, workspace, eval_version, tiny_base_model,
                                                    candidate_base_model):
    body = {"workspace": workspace.pk, "name": "Rated", "dataset_version": eval_version.pk, "kind": "rating",
            "rubric": ["x" * 65], "arms": [{"name": "a", "base_model": tiny_base_model.pk, "is_baseline": True},
                                           {"name": "b", "base_model": candidate_base_model.pk}]}
    response = api_for(users["product_manager"]).post("/api/v1/studies/", body, format="json")
    assert response.status_code == 400
    assert (response.json()["where"], response.json()["detail"]) == (
        "rubric[0].name", "the name is 65 characters; the limit is 64")
    assert not Study.objects.exists()


def test_a_rater_rates_through_the_api_until_nothing_is_left(open_rating_study, users, api_for):
    api = api_for(users["crowd_annotator"])
    rated = 0
    while (response := api.get(f"/api/v1/studies/{open_rating_study.pk}/next-rating/")).status_code == 200:
        again = api.get(f"/api/v1/studies/{open_rating_study.pk}/next-rating/").json()
        assert again["token"] == response.json()["token"]  # the same answer until it is rated
        answer = api.post(f"/api/v1/rating-items/{response.json()['token']}/rate/",
                          {"scores": {"helpfulness": 3, "accuracy": 5}}, format="json")
        assert answer.status_code == 201
        rated += 1
    assert (response.status_code, rated, Rating.objects.count()) == (204, 8, 8)
    bad = api.post(f"/api/v1/rating-items/{RatingItem.objects.first().token}/rate/",
                   {"scores": {"helpfulness": 3, "accuracy": 5}}, format="json")
    assert (bad.status_code, bad.json()["code"]) == (409, "already_voted") or bad.status_code == 400


@pytest.mark.parametrize(("role", "status"), [("product_manager", 200), ("ml_engineer", 200),
                                              ("crowd_annotator", 404), ("outsider", 404)])
def test_only_result_readers_read_the_ratings(open_rating_study, users, api_for, role, status):
    response = api_for(users[role]).get(f"/api/v1/studies/{open_rating_study.pk}/ratings/")
    assert response.status_code == status


def test_a_pairwise_study_has_no_ratings(open_study, users, api_for):
    response = api_for(users["product_manager"]).get(f"/api/v1/studies/{open_study.pk}/ratings/")
    assert (response.status_code, response.json()["where"]) == (400, "study")


def test_gold_marking_over_the_api(open_rating_study, users, api_for):
    item = RatingItem.objects.filter(study=open_rating_study).first()
    url = f"/api/v1/studies/{open_rating_study.pk}/rating-items/{item.pk}/gold/"
    assert api_for(users["crowd_annotator"]).post(url, {"scores": {"helpfulness": 5, "accuracy": 5}},
                                                  format="json").status_code == 404
    response = api_for(users["product_manager"]).post(url, {"scores": {"helpfulness": 5, "accuracy": 4}},
                                                      format="json")
    assert response.json() == {"id": item.pk, "gold_scores": {"helpfulness": 5, "accuracy": 4}}
    item.refresh_from_db()
    assert item.gold_scores == {"helpfulness": 5, "accuracy": 4}


def test_the_ratings_endpoint_costs_the_same_for_one_rating_and_many(open_rating_study, users, api_for):
    api = api_for(users["product_manager"])
    items = list(RatingItem.objects.filter(study=open_rating_study))
    rate_item(item=items[0], rater=users["crowd_annotator"], scores={"helpfulness": 4, "accuracy": 3})
    url = f"/api/v1/studies/{open_rating_study.pk}/ratings/"
    with CaptureQueriesContext(connection) as one:
        assert api.get(url).status_code == 200
    for item in items[1:]:
        for rater in ("crowd_annotator", "staff_annotator"):
            rate_item(item=item, rater=users[rater], scores={"helpfulness": 2, "accuracy": 3})
    with CaptureQueriesContext(connection) as many:
        assert api.get(url).status_code == 200
    # token and user, the study, the summary's seven (arms, counted ratings, every rating, exclusions, raters' names,
    # the prompts' records, their labels)
    assert len(one) == len(many)
