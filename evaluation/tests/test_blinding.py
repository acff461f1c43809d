"""Nothing a rater can see — page HTML, API JSON, element ids and attributes, URLs — reveals which arm wrote an
answer."""

import re
from html.parser import HTMLParser

from django.test import Client
from django.urls import reverse

from evaluation.models import Answer, Arm, Vote
from evaluation.services import showing_serve


class _Attributes(HTMLParser):
    def __init__(self):
        super().__init__()
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "meta" or ("name", "csrfmiddlewaretoken") in attrs:
            return  # the viewport, and the CSRF token (masked afresh on every response)
        self.attributes.extend((name, value or "") for name, value in attrs if name != "hx-headers")


def _secrets(study, tiny_base_model, candidate_base_model) -> tuple[list[str], set[str]]:
    """Names that identify an arm, and the ids of arms and answers, as text."""
    arms = list(Arm.objects.filter(study=study))
    names = [arm.name for arm in arms] + [tiny_base_model.name, candidate_base_model.name, tiny_base_model.path,
                                          candidate_base_model.path, "baseline", "candidate"]
    ids = {str(arm.pk) for arm in arms} | {
        str(pk) for pk in Answer.objects.filter(prompt__study=study).values_list("pk", flat=True)
    }
    return names, ids


# Attributes of the page layout that hold numbers of their own.
LAYOUT_CONSTANTS = {("maxlength", "5000"), ("rows", "2"), ("action", "/i18n/setlang/")}


def _attributes_without(html: str, removed: list[str]) -> list[tuple[str, str]]:
    parser = _Attributes()
    parser.feed(html)
    attributes = []
    for name, value in parser.attributes:
        for safe in removed:
            value = value.replace(safe, "")
        attributes.append((name, value))
    return attributes


def test_the_vote_page_reveals_no_arm(open_study, users, tiny_base_model, candidate_base_model):
    rater = users["crowd_annotator"]
    client = Client()
    client.force_login(rater)
    url = reverse("evaluation:vote", args=[open_study.pk])
    names, ids = _secrets(open_study, tiny_base_model, candidate_base_model)
    # What every page of the site carries for this rater (navigation, the language form): layout, not the comparison.
    layout = set(_attributes_without(client.get("/").content.decode(), [])) | LAYOUT_CONSTANTS
    pages = []
    while (showing := showing_serve(study=open_study, rater=rater)) is not None:
        comparison = showing.comparison
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        for name in names:
            assert name.lower() not in html.lower(), name
        # The study's own URL and the comparison's random token are all a rater's page may carry that varies.
        attributes = _attributes_without(html, [comparison.token, url])
        for name, value in attributes:
            assert "arm" not in name.lower() and "answer" not in name.lower(), name
            if (name in {"href", "src"} and value.startswith("/static/")) or (name, value) in layout:
                continue
            assert set(re.findall(r"\d+", value)).isdisjoint(ids), (name, value)
        form = html[html.index('id="vote-form"'):html.index("</form>", html.index('id="vote-form"'))]
        pages.append(_attributes_without("<form " + form, [comparison.token, url]))
        # The page shows the two texts, left and right, as the server decided for this rater (their showing).
        assert html.index('id="answer-left"') < html.index('id="answer-right"')
        assert response.context["showing"].pk == showing.pk
        assert response.context["showing"].left_answer.text == showing.left_answer.text
        assert response.context["showing"].right_answer.text == showing.right_answer.text
        assert client.post(url, {"token": comparison.token, "choice": "tie", "time_spent_ms": "10"}).status_code == 302
    # Every comparison's vote form has the same attributes once its token is taken out: nothing encodes arm or answer.
    assert len(pages) == 4
    assert all(page == pages[0] for page in pages)


def test_the_next_comparison_api_reveals_no_arm(open_study, users, api_for, tiny_base_model, candidate_base_model):
    rater = users["crowd_annotator"]
    showing = showing_serve(study=open_study, rater=rater)
    comparison = showing.comparison
    response = api_for(rater).get(f"/api/v1/studies/{open_study.pk}/next/")
    body = response.json()
    assert set(body) == {"token", "question", "labels", "prompt", "left", "right"}
    assert body == {"token": comparison.token, "question": "", "labels": [], "prompt": comparison.prompt.messages,
                    "left": showing.left_answer.text, "right": showing.right_answer.text}
    assert all(set(message) == {"role", "content"} for message in body["prompt"])
    names, ids = _secrets(open_study, tiny_base_model, candidate_base_model)
    raw = response.content.decode()
    for name in names:
        assert name.lower() not in raw.lower(), name
    assert not any(isinstance(value, int) for value in body.values())
    vote = api_for(rater).post(f"/api/v1/comparisons/{comparison.token}/vote/", {"choice": "left"}, format="json")
    # The answer repeats the choice as pressed; the stored one would tell the rater the stored orientation.
    assert vote.json() == {"token": comparison.token, "choice": "left"}
    assert Vote.objects.get().choice == showing.choice_stored("left")


def test_the_vote_home_page_reveals_no_arm(open_study, users, tiny_base_model, candidate_base_model):
    client = Client()
    client.force_login(users["crowd_annotator"])
    html = client.get(reverse("evaluation:vote-home")).content.decode()
    assert "Support answers" in html
    names, _ = _secrets(open_study, tiny_base_model, candidate_base_model)
    for name in names:
        assert name.lower() not in html.lower(), name


GOLD_ITEMS = [
    {"messages": [{"role": "user", "content": "What is 2 + 2?"}], "chosen": "4", "rejected": "5"},
    {"messages": [{"role": "user", "content": "Capital of France?"}], "chosen": "Paris", "rejected": "Berlin"},
]
KIND_WORDS = ("gold", "repeat", "mirror", "swap", "check", "control", "attention")


def test_gold_and_repeats_look_like_any_other_comparison_on_the_page_and_in_the_api(
    make_study, answer_studies, users, api_for
):
    """A rater voting through a study with gold (marked and uploaded) and side-swapped repeats: every page has the same
    form attributes once the token is taken out, the waiting count falls by exactly one per vote, no word names the
    kind, and the API answer has the same keys and types for every kind."""
    from evaluation.services import comparison_gold_set, study_gold_upload

    study = make_study(repeat_rate=0.5, gold_rate=0.3)
    answer_studies()
    study.refresh_from_db()
    pm, rater = users["product_manager"], users["crowd_annotator"]
    comparison_gold_set(
        comparison=study.comparisons.filter(repeat_of=None).order_by("order").last(), better="left", actor=pm
    )
    study_gold_upload(study=study, items=GOLD_ITEMS, actor=pm)
    client = Client()
    client.force_login(rater)
    api = api_for(rater)
    url = reverse("evaluation:vote", args=[study.pk])
    pages, kinds, waiting = [], set(), []
    while (showing := showing_serve(study=study, rater=rater)) is not None:
        comparison = showing.comparison
        kinds.add("repeat" if comparison.repeat_of_id else "gold" if comparison.gold_answer_id else "regular")
        response = client.get(url)
        html = response.content.decode()
        # Random tokens (CSRF, the comparison's) may spell anything: the words are looked for outside them.
        words = re.sub(r"[A-Za-z0-9_-]{20,}", "", html).lower()
        for word in KIND_WORDS:
            assert word not in words, word
        waiting.append(response.context["remaining"])
        form = html[html.index('id="vote-form"'):html.index("</form>", html.index('id="vote-form"'))]
        pages.append(_attributes_without("<form " + form, [comparison.token, url]))
        body = api.get(f"/api/v1/studies/{study.pk}/next/").json()
        assert body["token"] == comparison.token
        assert set(body) == {"token", "question", "labels", "prompt", "left", "right"}
        assert (body["left"], body["right"]) == (showing.left_answer.text, showing.right_answer.text)
        for word in KIND_WORDS:
            assert word not in str(sorted(body)).lower(), word
        assert client.post(url, {"token": comparison.token, "choice": "left", "time_spent_ms": "10"}).status_code == 302
    assert kinds == {"regular", "gold", "repeat"}
    assert all(page == pages[0] for page in pages)
    assert waiting == list(range(len(waiting), 0, -1))  # 7, 6, ... 1: one less per vote, whatever was voted on
