"""A blind rating study stays blind: nothing a rater can see — page HTML, API JSON, attributes, URLs — reveals which
arm wrote the answer, and gold and repeats look like any other answer."""

import re
from collections import Counter

from django.test import Client
from django.urls import reverse

from evaluation.models import Rating, RatingItem
from evaluation.services import rating_item_gold_set, rating_serve
from evaluation.tests.test_blinding import LAYOUT_CONSTANTS, _attributes_without, _secrets

KIND_WORDS = ("gold", "repeat", "mirror", "again", "check", "control", "attention")


def _rubric_layout(name: str, value: str, *, criteria: int) -> bool:
    """The rating form's own numbers: the scores 1–5 and the criteria's places in the rubric."""
    places = {str(i) for i in range(criteria)}
    return ((name == "value" and value in {"1", "2", "3", "4", "5"})
            or (name == "name" and value.removeprefix("score_") in places)
            or (name == "data-criterion" and value in places))


def test_the_rating_page_reveals_no_arm_and_every_form_is_alike(make_study, answer_studies, users, tiny_base_model,
                                                              candidate_base_model):
    study = make_study(kind="rating", rubric=["helpfulness", "accuracy"], repeat_rate=0.25, gold_rate=0.3)
    answer_studies()
    study.refresh_from_db()
    rating_item_gold_set(item=RatingItem.objects.filter(study=study, repeat_of=None).order_by("order").last(),
                         scores={"helpfulness": 4, "accuracy": 4}, actor=users["product_manager"])
    rater = users["crowd_annotator"]
    client = Client()
    client.force_login(rater)
    url = reverse("evaluation:vote", args=[study.pk])
    names, ids = _secrets(study, tiny_base_model, candidate_base_model)
    pages, kinds, waiting = [], Counter(), []
    while (showing := rating_serve(study=study, rater=rater)) is not None:
        item = showing.item
        kinds["repeat" if item.repeat_of_id else "gold" if item.gold_scores else "regular"] += 1
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        for word in names + list(KIND_WORDS):
            assert word.lower() not in html.lower(), word
        assert response.context["showing"].item_id == item.pk
        assert item.answer.text in html
        attributes = _attributes_without(html, [item.token, url])
        for name, value in attributes:
            assert "arm" not in name.lower() and "answer" not in name.lower(), name
            if (name in {"href", "src"} and value.startswith("/static/")) or (name, value) in LAYOUT_CONSTANTS:
                continue
            if _rubric_layout(name, value, criteria=2):
                continue
            assert set(re.findall(r"\d+", value)).isdisjoint(ids), (name, value)
        form = html[html.index('id="rating-form"'):html.index("</form>", html.index('id="rating-form"'))]
        pages.append(_attributes_without("<form " + form, [item.token, url]))
        waiting.append(response.context["remaining"])
        posted = client.post(url, {"token": item.token, "score_0": "4", "score_1": "2", "time_spent_ms": "10"})
        assert posted.status_code == 302
    assert kinds == {"regular": 7, "gold": 1, "repeat": 2}
    assert all(page == pages[0] for page in pages)
    assert waiting == list(range(10, 0, -1))  # one less per rating, whatever was rated
    assert Rating.objects.filter(rater=rater).count() == 10
    assert all(scores == {"helpfulness": 4, "accuracy": 2}
               for scores in Rating.objects.values_list("scores", flat=True))


def test_the_next_rating_api_reveals_no_arm(open_rating_study, users, api_for, tiny_base_model, candidate_base_model):
    rater = users["crowd_annotator"]
    showing = rating_serve(study=open_rating_study, rater=rater)
    response = api_for(rater).get(f"/api/v1/studies/{open_rating_study.pk}/next-rating/")
    body = response.json()
    assert body == {"token": showing.item.token, "question": "", "prompt": showing.item.prompt.messages,
                    "answer": showing.item.answer.text,
                    "rubric": [{"name": "helpfulness", "description": ""}, {"name": "accuracy", "description": ""}]}
    names, _ = _secrets(open_rating_study, tiny_base_model, candidate_base_model)
    for name in names:
        assert name.lower() not in response.content.decode().lower(), name
    rated = api_for(rater).post(f"/api/v1/rating-items/{showing.item.token}/rate/",
                                {"scores": {"helpfulness": 5, "accuracy": 4}}, format="json")
    assert rated.status_code == 201
    assert rated.json() == {"token": showing.item.token, "scores": {"helpfulness": 5, "accuracy": 4}}


def test_the_item_order_and_tokens_come_from_secrets_not_the_seed(make_study, answer_studies):
    """Two studies with the same seed, prompts and models: their serving orders and tokens differ."""
    first = make_study(name="one", kind="rating", seed=5)
    second = make_study(name="two", kind="rating", seed=5)
    answer_studies()
    orders = [list(RatingItem.objects.filter(study=s).order_by("answer__prompt__order", "answer__arm__is_baseline")
                   .values_list("order", flat=True)) for s in (first, second)]
    tokens = [set(RatingItem.objects.filter(study=s).values_list("token", flat=True)) for s in (first, second)]
    assert tokens[0].isdisjoint(tokens[1])
    # 8 items: the chance two independent shuffles agree is 1 / 8! (about 2.5e-5).
    assert orders[0] != orders[1]
