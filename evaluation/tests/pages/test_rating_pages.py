"""The pages of a blind 1–5 rating study: the rater's rating page, the results on the study page, the create form."""

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evaluation.models import Rating, RatingItem, Study
from evaluation.tests.fixtures import rate_item


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_rating_with_the_plain_form_until_no_answer_is_left(users, open_rating_study):
    rater = users["crowd_annotator"]
    client = _client(rater)
    url = reverse("evaluation:vote", args=[open_rating_study.pk])
    served, posted = [], []
    for _ in range(8):
        with CaptureQueriesContext(connection) as page:
            response = client.get(url)
        served.append(len(page))
        showing, html = response.context["showing"], response.content.decode()
        assert client.get(url).context["showing"].pk == showing.pk  # a reload serves the same answer
        assert showing.item.answer.text in html and "frontend/rate.js" in html
        assert html.count('type="radio"') == 10  # five scores for each of two criteria
        with CaptureQueriesContext(connection) as post:
            response = client.post(url, {"token": showing.item.token, "score_0": "5", "score_1": "2",
                                         "reason": "clear", "time_spent_ms": "900"})
        posted.append(len(post))
        assert (response.status_code, response.url) == (302, url)
    assert len(set(served)) == 1 and len(set(posted)) == 1  # the same cost wherever the item is in the queue
    ratings = Rating.objects.filter(rater=rater)
    assert ratings.count() == 8
    assert {(tuple(sorted(r.scores.items())), r.reason, r.time_spent_ms) for r in ratings} == {
        ((("accuracy", 2), ("helpfulness", 5)), "clear", 900)}
    done = client.get(url).content.decode()
    assert 'id="vote-done"' in done and "No more answers" in done


def test_a_rating_missing_a_criterion_is_refused_with_the_reason(users, open_rating_study):
    client = _client(users["crowd_annotator"])
    url = reverse("evaluation:vote", args=[open_rating_study.pk])
    token = client.get(url).context["showing"].item.token
    response = client.post(url, {"token": token, "score_0": "5"}, follow=True)
    assert "needs a whole score from 1 to 5; got &#x27;&#x27;" in response.content.decode()
    assert not Rating.objects.exists()


def test_vote_home_counts_the_answers_waiting_in_a_rating_study(users, open_rating_study, open_study):
    response = _client(users["crowd_annotator"]).get(reverse("evaluation:vote-home"))
    assert sorted((s.name, s.remaining) for s in response.context["studies"]) == [
        ("Rated answers", 8), ("Support answers", 4)]


def test_the_study_page_shows_the_rating_results_at_a_fixed_query_cost(users, open_rating_study):
    client = _client(users["product_manager"])
    url = reverse("evaluation:study-detail", args=[open_rating_study.pk])
    items = list(RatingItem.objects.filter(study=open_rating_study).select_related("answer__arm"))
    rate_item(item=items[0], rater=users["crowd_annotator"], scores={"helpfulness": 4, "accuracy": 4})
    with CaptureQueriesContext(connection) as one:
        response = client.get(url)
    for item in items[1:]:
        for rater in ("crowd_annotator", "staff_annotator"):
            scores = {"helpfulness": 2, "accuracy": 3} if item.answer.arm.is_baseline else {"helpfulness": 5,
                                                                                            "accuracy": 3}
            rate_item(item=item, rater=users[rater], scores=scores)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert len(one) == len(many)
    html = response.content.decode()
    for element in ("rating-results", "rating-means", "rating-tests", "rating-agreement", "rating-raters"):
        assert f'id="{element}"' in html
    assert "Krippendorff" in html and "Wilcoxon p (Holm)" in html and "helpfulness" in html
    assert response.context["rating_summary"].counted_ratings == 15
    assert "support rate" not in html.lower()  # a rating study has no pairwise results


def test_a_rater_cannot_read_the_rating_results(users, open_rating_study):
    response = _client(users["crowd_annotator"]).get(reverse("evaluation:study-detail", args=[open_rating_study.pk]))
    assert response.status_code == 404


def test_the_create_form_makes_a_rating_study(users, eval_version, tiny_base_model, candidate_base_model):
    response = _client(users["product_manager"]).post(reverse("evaluation:study-list"), {
        "name": "Rated by form", "dataset_version": str(eval_version.pk), "baseline": f"base_model:{tiny_base_model.pk}",
        "candidate": f"base_model:{candidate_base_model.pk}", "votes_per_comparison": "1", "max_prompts": "10",
        "kind": "rating", "rubric": "helpfulness: solves it?\ntone", "significance_level": "0.01"})
    study = Study.objects.get()
    assert response.status_code == 302
    assert (study.kind, study.significance_level) == ("rating", 0.01)
    assert study.rubric == [{"name": "helpfulness", "description": "solves it?"}, {"name": "tone", "description": ""}]


def test_the_create_form_shows_a_rubric_error_on_the_rubric(users, eval_version, tiny_base_model,
                                                            candidate_base_model):
    response = _client(users["product_manager"]).post(reverse("evaluation:study-list"), {
        "name": "Rated by form", "dataset_version": str(eval_version.pk), "baseline": f"base_model:{tiny_base_model.pk}",
        "candidate": f"base_model:{candidate_base_model.pk}", "votes_per_comparison": "1", "max_prompts": "10",
        "kind": "rating", "rubric": "tone\ntone", "significance_level": "0.05"})
    assert response.status_code == 200
    assert response.context["form"].errors["rubric"] == ["the criterion 'tone' is given twice"]
    assert not Study.objects.exists()
