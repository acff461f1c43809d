import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from datahub.models import DatasetVersion
from datahub.services.versions import dataset_version_create
from evaluation.models import Showing, Study, Vote
from evaluation.services import showing_serve, vote_submit
from evaluation.tests.fixtures import vote_as_stored
from feedback.services import feedback_events_ingest, feedback_source_create


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_study_list_shows_the_create_form_to_a_product_manager(users, make_study):
    make_study()
    response = _client(users["product_manager"]).get(reverse("evaluation:study-list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="study-create-form"' in html
    assert "Support answers" in html
    assert "tiny-chat-other" in html  # offered as a model to compare


def test_study_list_for_a_result_reader_has_no_create_form(users, make_study):
    make_study()
    html = _client(users["ml_engineer"]).get(reverse("evaluation:study-list")).content.decode()
    assert "Support answers" in html
    assert 'id="study-create-form"' not in html


def test_study_list_costs_the_same_queries_for_one_and_ten_studies(users, make_study):
    client = _client(users["product_manager"])
    make_study()
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("evaluation:study-list"))
    for i in range(9):
        make_study(name=f"study {i}")
    with CaptureQueriesContext(connection) as ten:
        assert client.get(reverse("evaluation:study-list")).content.decode().count("/studies/") >= 10
    # session, user, can-create, versions, base models, artifacts, endpoints, count, page, nav capabilities
    assert len(one) == len(ten) == 10


def test_creating_a_study_from_the_form(users, workspace, eval_version, tiny_base_model, candidate_base_model,
                                        django_capture_on_commit_callbacks):
    form = {"name": "Tone study", "question": "Which is kinder?", "dataset_version": str(eval_version.pk),
            "baseline": f"base_model:{tiny_base_model.pk}", "candidate": f"base_model:{candidate_base_model.pk}",
            "votes_per_comparison": "3", "max_prompts": "2", "labels": "tone, facts,"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _client(users["product_manager"]).post(reverse("evaluation:study-list"), form)
    study = Study.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("evaluation:study-detail", args=[study.pk])
    assert (study.name, study.question, study.votes_per_comparison, study.max_prompts, study.status) == (
        "Tone study", "Which is kinder?", 3, 2, "generating")
    assert study.labels == ["tone", "facts"]
    assert list(study.arms.order_by("-is_baseline").values_list("name", "base_model_id")) == [
        ("tiny-chat", tiny_base_model.pk), ("tiny-chat-other", candidate_base_model.pk)]
    assert len(callbacks) == 1


def test_the_form_shows_the_service_error_on_its_field(
    users, workspace, eval_version, tiny_base_model, candidate_base_model
):
    train_only = dataset_version_create(
        dataset=eval_version.dataset,
        entries=[(eval_version.entries.first().record_id, "train", [])],
        operation=DatasetVersion.Operation.FREEZE,
    )
    form = {"name": "Tone study", "dataset_version": str(train_only.pk), "baseline": f"base_model:{tiny_base_model.pk}",
            "candidate": f"base_model:{candidate_base_model.pk}", "votes_per_comparison": "1", "max_prompts": "50"}
    response = _client(users["product_manager"]).post(reverse("evaluation:study-list"), form)
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "dataset_version": ["the test split of eval prompts v2 has no records to use as prompts"]
    }
    assert Study.objects.count() == 0


@pytest.mark.parametrize("role", ["ml_engineer", "crowd_annotator"])
def test_only_managers_may_post_a_study(role, users, eval_version, tiny_base_model, candidate_base_model):
    form = {"name": "x", "dataset_version": str(eval_version.pk), "baseline": f"base_model:{tiny_base_model.pk}",
            "candidate": f"base_model:{candidate_base_model.pk}", "votes_per_comparison": "1", "max_prompts": "5"}
    assert _client(users[role]).post(reverse("evaluation:study-list"), form).status_code == 404
    assert Study.objects.count() == 0


def test_detail_of_a_generating_study_polls_its_status(users, make_study):
    study = make_study()
    html = _client(users["product_manager"]).get(reverse("evaluation:study-detail", args=[study.pk])).content.decode()
    assert f'hx-get="{reverse("evaluation:study-status", args=[study.pk])}"' in html
    assert 'hx-trigger="every 2s"' in html
    partial = _client(users["product_manager"]).get(
        reverse("evaluation:study-status", args=[study.pk]), HTTP_HX_REQUEST="true"
    )
    assert partial.status_code == 200
    assert 'id="study-progress"' in partial.content.decode()


@pytest.mark.parametrize("role", ["crowd_annotator", "reviewer", "outsider"])
def test_raters_and_outsiders_get_404_on_a_study(role, users, make_study):
    study = make_study()
    client = _client(users[role])
    assert client.get(reverse("evaluation:study-detail", args=[study.pk])).status_code == 404
    assert client.get(reverse("evaluation:study-status", args=[study.pk])).status_code == 404


def test_a_rater_may_label_a_vote_from_the_form(users, make_study, answer_studies):
    study = make_study(labels=["tone", "facts & figures"])
    answer_studies()
    study.refresh_from_db()
    rater = users["crowd_annotator"]
    client = _client(rater)
    url = reverse("evaluation:vote", args=[study.pk])
    html = client.get(url).content.decode()
    assert '<input type="radio" name="label" value="facts &amp; figures" data-key="2">' in html
    comparison = showing_serve(study=study, rater=rater).comparison
    client.post(url, {"token": comparison.token, "choice": "tie", "label": "facts & figures", "time_spent_ms": "10"})
    second = showing_serve(study=study, rater=rater).comparison
    response = client.post(
        url, {"token": second.token, "choice": "tie", "label": "style", "time_spent_ms": "10"}, follow=True
    )
    assert "unknown label" in response.content.decode()
    assert list(Vote.objects.values_list("label", flat=True)) == ["facts & figures"]


def test_detail_shows_results_and_arms_to_a_result_reader_at_a_fixed_query_cost(users, open_study):
    client = _client(users["ml_engineer"])
    url = reverse("evaluation:study-detail", args=[open_study.pk])
    with CaptureQueriesContext(connection) as before:
        client.get(url)
    for comparison in open_study.comparisons.select_related("left_answer__arm").order_by("order"):
        side = "left" if comparison.left_answer.arm.name == "candidate-arm" else "right"
        vote_as_stored(comparison=comparison, rater=users["crowd_annotator"], choice=side)
    with CaptureQueriesContext(connection) as after:
        response = client.get(url)
    # The same 21 queries with or without votes (the page, counts, results, metrics, judges, rater reliability, the
    # votes a stated rule cast, the export permission and the online support rate from production picks).
    assert len(before) == len(after) == 21
    html = response.content.decode()
    assert "baseline-arm" in html and "candidate-arm" in html and "tiny-chat-other" in html
    assert 'id="online-support"' in html and "No best-of-N picks in this period." in html

    source = feedback_source_create(workspace=open_study.workspace, name="Shop app", created_by=users["ml_engineer"])
    picked = {
        "idempotency_key": "pick-1",
        "kind": "choice",
        "occurred_at": timezone.now().isoformat(),
        "chosen_index": 1,
        "messages": [{"role": "user", "content": "Where is my parcel?"}],
        "responses": [{"text": "Soon.", "model": "tiny-chat"}, {"text": "It left today.", "model": "support-tuned"}],
    }
    assert feedback_events_ingest(source=source, events=[picked]).count("accepted") == 1
    html = client.get(url).content.decode()
    section = html[html.index('id="online-support"'):]
    assert (
        "<tr><td>support-tuned</td><td>1</td><td>1</td>\n    <td>100% <span class=\"muted\">[21–100%]</span></td>"
        in section
    )
    assert "<tr><td>tiny-chat</td><td>1</td><td>0</td>\n    <td>0% <span class=\"muted\">[0–79%]</span></td>" in section
    assert '<p class="figure" id="support-rate">100.0%</p>' in html
    assert '<strong id="support-interval">51.0% – 100.0%</strong>' in html
    assert "not yet conclusive — about" in html
    assert "hx-get" not in html  # open: no more polling
    assert '<div class="chart" id="support-chart">' in html and 'id="results-data"' in html
    assert '<strong id="bootstrap-interval">100.0% – 100.0%</strong>' in html


def test_the_printable_report_names_the_arms_for_result_readers_only(users, open_study):
    comparison = showing_serve(study=open_study, rater=users["crowd_annotator"]).comparison
    vote_submit(comparison=comparison, rater=users["crowd_annotator"], choice="tie")
    url = reverse("evaluation:study-report", args=[open_study.pk])
    html = _client(users["ml_engineer"]).get(url).content.decode()
    assert "Study report: Support answers" in html
    assert '<dd id="report-arms">baseline-arm (baseline), candidate-arm</dd>' in html
    assert '<p class="figure" id="support-rate">50.0%</p>' in html
    assert "window.print()" in html and "vendor/plotly/plotly.min.js" in html
    for role in ("crowd_annotator", "outsider"):
        assert _client(users[role]).get(url).status_code == 404


def test_status_poll_reloads_the_page_once_generation_ends(users, open_study):
    response = _client(users["product_manager"]).get(
        reverse("evaluation:study-status", args=[open_study.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"


def test_vote_home_lists_open_studies_with_what_is_waiting_at_a_fixed_query_cost(users, make_study, answer_studies):
    client = _client(users["crowd_annotator"])
    make_study()
    answer_studies()
    with CaptureQueriesContext(connection) as one:
        response = client.get(reverse("evaluation:vote-home"))
    assert [(s.name, s.remaining) for s in response.context["studies"]] == [("Support answers", 4)]
    for i in range(9):
        make_study(name=f"study {i}")
    answer_studies()
    with CaptureQueriesContext(connection) as ten:
        response = client.get(reverse("evaluation:vote-home"))
    assert len(response.context["studies"]) == 10
    assert len(one) == len(ten) == 4  # session, user, studies, nav capabilities


def test_voting_with_the_plain_form_until_no_comparison_is_left(users, open_study):
    rater = users["crowd_annotator"]
    client = _client(rater)
    url = reverse("evaluation:vote", args=[open_study.pk])
    served, reloaded, voted = [], [], []
    for choice in ["left", "right", "tie", "both_bad"]:
        with CaptureQueriesContext(connection) as page:
            response = client.get(url)  # a new pick, stored as the rater's pending showing
        served.append(len(page))
        with CaptureQueriesContext(connection) as page:
            again = client.get(url)  # a reload: the same showing
        reloaded.append(len(page))
        showing, html = response.context["showing"], again.content.decode()
        assert (again.context["showing"].pk, again.context["showing"].is_swapped) == (showing.pk, showing.is_swapped)
        for button in ("vote-left", "vote-right", "vote-tie", "vote-both-bad"):
            assert f'id="{button}"' in html
        assert "frontend/vote.js" in html
        with CaptureQueriesContext(connection) as post:
            response = client.post(url, {"token": showing.comparison.token, "choice": choice, "reason": "because",
                                         "time_spent_ms": "1500"})
        voted.append(len(post))
        assert (response.status_code, response.url) == (302, url)
    # The same queries for every comparison, whatever its place in the queue (the rater's history grows each time).
    # A new pick: session, user, study, the pending showing, the rater's history, what waits, the new showing (looked
    # up, inserted under a savepoint), its history row, the showing loaded, the waiting count, the nav; with the
    # transaction's BEGIN and COMMIT. A reload: session, user, study, the pending showing, the count, the nav.
    assert (served, reloaded, voted) == ([16] * 4, [8] * 4, [12] * 4)
    votes = list(Vote.objects.order_by("pk").select_related("comparison"))
    shown = {s.comparison_id: s for s in Showing.objects.filter(rater=rater)}
    assert [(shown[v.comparison_id].choice_shown(v.choice), v.reason, v.time_spent_ms) for v in votes] == [
        ("left", "because", 1500), ("right", "because", 1500), ("tie", "because", 1500), ("both_bad", "because", 1500)]
    done = client.get(url)
    assert 'id="vote-done"' in done.content.decode()
    assert "No more comparisons" in done.content.decode()


def test_a_second_vote_from_the_form_shows_the_error_and_changes_nothing(users, open_study):
    rater = users["crowd_annotator"]
    client = _client(rater)
    url = reverse("evaluation:vote", args=[open_study.pk])
    showing = showing_serve(study=open_study, rater=rater)
    comparison = showing.comparison
    client.post(url, {"token": comparison.token, "choice": "left"})
    response = client.post(url, {"token": comparison.token, "choice": "right"}, follow=True)
    assert "you have already voted on this comparison" in response.content.decode()
    assert list(Vote.objects.values_list("choice", flat=True)) == [showing.choice_stored("left")]


@pytest.mark.parametrize("role", ["product_manager", "ml_engineer", "admin", "outsider"])
def test_only_raters_reach_the_vote_page(role, users, open_study):
    comparison = open_study.comparisons.order_by("order").first()
    client = _client(users[role])
    url = reverse("evaluation:vote", args=[open_study.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"token": comparison.token, "choice": "left"}).status_code == 404
    assert Vote.objects.count() == 0


def test_the_form_proposes_the_newest_trained_model_against_its_base(users, tiny_artifact, candidate_base_model):
    form = _client(users["product_manager"]).get(reverse("evaluation:study-list")).context["form"]
    assert form["baseline"].value() == f"base_model:{tiny_artifact.base_model_id}"
    assert form["candidate"].value() == f"artifact:{tiny_artifact.pk}"


def test_a_manager_marks_a_stale_study_failed_and_retries_it_from_its_page(
    users, make_study, django_capture_on_commit_callbacks
):
    from evaluation.services.studies import STALE_AFTER

    study = make_study()
    client = _client(users["product_manager"])
    url = reverse("evaluation:study-detail", args=[study.pk])
    assert 'id="study-abandon"' not in client.get(url).content.decode()
    Study.objects.filter(pk=study.pk).update(updated_at=study.updated_at - STALE_AFTER)
    html = client.get(url).content.decode()
    assert 'id="study-stale"' in html and 'id="study-abandon"' in html and 'id="study-retry"' in html
    assert 'id="study-abandon"' not in _client(users["ml_engineer"]).get(url).content.decode()  # reads, does not manage
    response = client.post(reverse("evaluation:study-transition", args=[study.pk, "abandon"]), follow=True)
    assert "The study is marked failed; you may retry it." in response.content.decode()
    assert Study.objects.get(pk=study.pk).status == "failed"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("evaluation:study-transition", args=[study.pk, "retry"]))
    assert (Study.objects.get(pk=study.pk).status, len(callbacks)) == ("generating", 1)
    assert (
        _client(users["ml_engineer"]).post(reverse("evaluation:study-transition", args=[study.pk, "close"])).status_code
        == 404
    )
    assert client.post(reverse("evaluation:study-transition", args=[study.pk, "explode"])).status_code == 404


def test_a_three_arm_study_from_the_form_is_ranked_by_bradley_terry(
    users, workspace, eval_version, tiny_base_model, candidate_base_model, other_tiny_model_dir, answer_studies, api_for
):
    from training.services.base_models import base_model_register

    third = base_model_register(workspace=workspace, name="tiny-chat-third", path=str(other_tiny_model_dir))
    client = _client(users["product_manager"])
    form = {
        "name": "Three ways",
        "dataset_version": str(eval_version.pk),
        "baseline": f"base_model:{tiny_base_model.pk}",
        "candidate": f"base_model:{candidate_base_model.pk}",
        "more_candidates": [f"base_model:{third.pk}"],
        "votes_per_comparison": "1",
        "max_prompts": "4",
    }
    client.post(reverse("evaluation:study-list"), form)
    study = Study.objects.get()
    assert list(study.arms.order_by("-is_baseline", "name").values_list("name", flat=True)) == [
        "tiny-chat", "tiny-chat-other", "tiny-chat-third"]
    answer_studies()
    study.refresh_from_db()
    assert study.status == "open", study.error
    # The rater always prefers tiny-chat-other and always prefers the baseline over tiny-chat-third.
    rater = users["crowd_annotator"]
    while (showing := showing_serve(study=study, rater=rater)) is not None:
        left = showing.left_answer.arm.name
        right = showing.right_answer.arm.name
        wanted = "tiny-chat-other" if "tiny-chat-other" in (left, right) else "tiny-chat"
        vote_submit(comparison=showing.comparison, rater=rater, choice="left" if left == wanted else "right")
    html = client.get(reverse("evaluation:study-detail", args=[study.pk])).content.decode()
    assert 'id="ranking-table"' in html and 'id="ranking-chart"' in html
    ranking = api_for(users["ml_engineer"]).get(f"/api/v1/studies/{study.pk}/results/").json()["ranking"]
    assert [r["arm"] for r in ranking] == ["tiny-chat-other", "tiny-chat", "tiny-chat-third"]
    assert ranking[0]["rating"] > 1000 > ranking[2]["rating"]
    assert all(r["low"] <= r["rating"] <= r["high"] for r in ranking)
    assert [r["votes"] for r in ranking] == [4, 8, 4]


def test_the_form_offers_model_endpoints_as_arms(
    users, workspace, eval_version, tiny_base_model, django_capture_on_commit_callbacks
):
    from llm.services.endpoints import model_endpoint_create

    endpoint = model_endpoint_create(
        workspace=workspace, name="hosted model", base_url="http://model.invalid/v1", model="m"
    )
    client = _client(users["product_manager"])
    html = client.get(reverse("evaluation:study-list")).content.decode()
    assert f'<option value="endpoint:{endpoint.pk}">Acme support · hosted model</option>' in html
    form = {"name": "Hosted", "dataset_version": str(eval_version.pk), "baseline": f"base_model:{tiny_base_model.pk}",
            "candidate": f"endpoint:{endpoint.pk}", "votes_per_comparison": "1", "max_prompts": "2"}
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("evaluation:study-list"), form)
    assert list(
        Study.objects.get().arms.order_by("-is_baseline").values_list("name", "base_model_id", "endpoint_id")
    ) == [("tiny-chat", tiny_base_model.pk, None), ("hosted model", None, endpoint.pk)]


def test_creating_a_study_from_an_uploaded_prompt_file(users, tiny_base_model, candidate_base_model, eval_version,
                                                        django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = _client(users["product_manager"])
    upload = SimpleUploadedFile(
        "faq.jsonl", b'{"messages": [{"role": "user", "content": "Hello?"}]}\n', "application/jsonl"
    )
    form = {"name": "From a file", "dataset_version": str(eval_version.pk), "prompts_file": upload,
            "baseline": f"base_model:{tiny_base_model.pk}",
            "candidate": f"base_model:{candidate_base_model.pk}", "votes_per_comparison": "1", "max_prompts": "5"}
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("evaluation:study-list"), form)
    study = Study.objects.get()
    assert (response.status_code, study.upload_name, study.dataset_version_id) == (302, "faq.jsonl", None)
    assert list(study.prompts.values_list("messages", flat=True)) == [[{"role": "user", "content": "Hello?"}]]
    assert "faq.jsonl" in client.get(reverse("evaluation:study-detail", args=[study.pk])).content.decode()
    bad = SimpleUploadedFile("bad.jsonl", b"not json\n")
    html = client.post(reverse("evaluation:study-list"), {**form, "prompts_file": bad}).content.decode()
    assert "not JSON: Expecting value" in html
    neither = client.post(
        reverse("evaluation:study-list"),
        {**{k: v for k, v in form.items() if k != "prompts_file"}, "dataset_version": ""},
    ).content.decode()
    assert "give the prompts either as a dataset version or as an upload, not both or neither" in neither
    assert Study.objects.count() == 1


def test_the_form_offers_only_versions_with_test_prompts_and_starts_with_one(
    users, eval_version, sft_version, tiny_base_model
):
    html = _client(users["product_manager"]).get(reverse("evaluation:study-list")).content.decode()
    assert f'<option value="{eval_version.pk}" selected>Acme support · eval prompts v1 (4 test)</option>' in html
    assert "support v1" not in html  # 10 train and 2 validation prompts, no test: nothing a study could ask


def test_the_form_starts_with_the_test_split_the_trained_model_learned_from(
    users, tiny_artifact, eval_version, workspace
):
    from datahub.models import Record
    from datahub.services.records import records_bulk_create

    trained_on = tiny_artifact.dataset_version
    records_bulk_create(dataset=trained_on.dataset, rows=[{"kind": "sft", "messages": [
        {"role": "user", "content": "Held out?"}, {"role": "assistant", "content": "Yes."}]}])
    held_out = Record.objects.filter(dataset=trained_on.dataset).order_by("-pk").first()
    entries = [(e.record_id, e.split, []) for e in trained_on.entries.all()] + [(held_out.pk, "test", [])]
    newer = dataset_version_create(
        dataset=trained_on.dataset, entries=entries, operation=DatasetVersion.Operation.FREEZE
    )
    html = _client(users["product_manager"]).get(reverse("evaluation:study-list")).content.decode()
    # The artifact learned from v1, which has no test split: the newest version with test prompts comes first instead.
    assert f'<option value="{newer.pk}" selected>' in html


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_votes_a_rule_cast_are_said_so_with_the_rule_on_the_study_page_and_the_report(users, open_study):
    from common.simulation import CLOSER_TO_REFERENCE
    from evaluation.selectors import study_report

    pages = [
        reverse("evaluation:study-detail", args=[open_study.pk]),
        reverse("evaluation:study-report", args=[open_study.pk]),
    ]
    for url in pages:
        assert 'id="simulated-votes"' not in _client(users["product_manager"]).get(url).content.decode()
    for rater in ("crowd_annotator", "staff_annotator"):
        comparison = showing_serve(study=open_study, rater=users[rater]).comparison
        vote_submit(comparison=comparison, rater=users[rater], choice="left", simulated_by=CLOSER_TO_REFERENCE)
    comparison = showing_serve(study=open_study, rater=users["reviewer"]).comparison
    vote_submit(comparison=comparison, rater=users["reviewer"], choice="left")
    assert Vote.objects.filter(simulated_by=CLOSER_TO_REFERENCE).count() == 2
    for url in pages:
        html = _client(users["product_manager"]).get(url).content.decode()
        assert "2 votes were cast by a simulated rater, not a person." in html
        assert "the answer closer to the team&#x27;s reference reply wins, by ROUGE-L F1" in html
    simulated = study_report(study=open_study).simulated_votes
    assert [(row["rule"], row["votes"]) for row in simulated] == [(CLOSER_TO_REFERENCE, 2)]


def test_the_feedback_dashboard_says_which_sources_are_simulated(users, workspace):
    from common.simulation import CLOSER_TO_REFERENCE

    shop = feedback_source_create(workspace=workspace, name="Shop (demo)", simulated_by=CLOSER_TO_REFERENCE)
    real = feedback_source_create(workspace=workspace, name="Shop web")
    html = (
        _client(users["ml_engineer"]).get(f"{reverse('feedback:dashboard')}?workspace={workspace.pk}").content.decode()
    )
    assert f'id="simulated-source-{shop.pk}"' in html and f'id="simulated-source-{real.pk}"' not in html
    assert "The events of Shop (demo) are simulated, not sent by people." in html
    assert html.count('<span class="badge">simulated</span>') == 1
