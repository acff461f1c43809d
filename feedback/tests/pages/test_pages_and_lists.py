import pytest
from django.test import Client

from datahub.models import DatasetVersion
from feedback.models import FeedbackIngestToken, FeedbackSource
from feedback.selectors import feedback_support_rates
from feedback.services import feedback_events_ingest, feedback_source_create, feedback_token_create
from feedback.tests.conftest import make_choice, make_event

pytestmark = pytest.mark.django_db


def browser_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _fill(source, n: int) -> None:
    events = []
    for i in range(n):
        events.append(make_event(4 * i, kind="like", model=f"m{i % 3}", prompt_version=f"v{i % 2}"))
        events.append(make_event(4 * i + 1, kind="dislike", model=f"m{i % 3}"))
        events.append(
            make_choice(
                4 * i + 2,
                question=f"Q{i}",
                answers=[("a", f"m{i % 3}"), ("b", "base")],
                chosen=i % 2,
                occurred_at=f"2026-11-{10 + i % 10}T09:00:00Z",
            )
        )
    feedback_events_ingest(source=source, events=events)


def _count_queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_dashboard_costs_the_same_queries_for_1_and_10_rows(users, workspace, feedback_source):
    client = browser_for(users["ml_engineer"])
    url = f"/feedback/?workspace={workspace.pk}&days=365"
    _fill(feedback_source, 1)
    feedback_token_create(source=feedback_source)
    one = _count_queries(client, url)
    for i in range(9):
        source = feedback_source_create(workspace=workspace, name=f"App {i}")
        feedback_token_create(source=source)
        _fill(source, 10)
    assert _count_queries(client, url) == one
    page = client.get(url).content.decode()
    assert 'id="support-table"' in page and "Support app" in page and "App 8" in page


def test_the_dashboard_and_workbench_are_open_to_the_right_roles(users, workspace):
    for who in ("ml_engineer", "product_manager", "admin"):
        assert browser_for(users[who]).get(f"/feedback/?workspace={workspace.pk}").status_code == 200, who
    for who in ("crowd_annotator", "staff_annotator", "outsider"):
        assert browser_for(users[who]).get(f"/feedback/?workspace={workspace.pk}").status_code == 404, who
    for who in ("staff_annotator", "expert_annotator", "reviewer", "ml_engineer"):
        assert browser_for(users[who]).get("/feedback/workbench/").status_code == 200, who
    for who in ("crowd_annotator",):
        assert browser_for(users[who]).get("/feedback/workbench/").status_code == 404, who


def test_the_page_creates_a_source_shows_its_token_once_and_revokes_it(users, workspace):
    form = {"workspace": workspace.pk, "name": "Checkout bot", "pii_scrub": "on", "pii_kinds": ["email", "phone"],
            "rate_limit_per_minute": 1000}
    assert browser_for(users["product_manager"]).post("/feedback/sources/new/", form).status_code == 404
    assert FeedbackSource.objects.count() == 0
    response = browser_for(users["ml_engineer"]).post("/feedback/sources/new/", form)
    assert response.status_code == 200
    source = FeedbackSource.objects.get()
    assert (source.pii_kinds, source.rate_limit_per_minute) == (["email", "phone"], 1000)
    token = FeedbackIngestToken.objects.get()
    assert f'<code id="ingest-token">{token.prefix}' in response.content.decode()
    page = browser_for(users["ml_engineer"]).get(f"/feedback/?workspace={workspace.pk}").content.decode()
    assert token.prefix + "…" in page and response.context["key"] not in page
    assert browser_for(users["product_manager"]).post(f"/feedback/tokens/{token.pk}/revoke/").status_code == 403
    browser_for(users["ml_engineer"]).post(f"/feedback/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_build_button_freezes_a_feedback_version(users, workspace, feedback_source):
    _fill(feedback_source, 2)
    form = {"workspace": workspace.pk, "dataset_name": "From the page", "review": "on"}
    assert browser_for(users["product_manager"]).post("/feedback/datasets/build/", form).status_code == 404
    assert DatasetVersion.objects.count() == 0
    response = browser_for(users["ml_engineer"]).post("/feedback/datasets/build/", form, follow=True)
    version = DatasetVersion.objects.get(operation=DatasetVersion.Operation.FEEDBACK, dataset__name="From the page")
    assert (
        f"Version 1 of “From the page”: {sum(version.counts.values())} records from 6 events."
        in response.content.decode()
    )


def test_support_rates_count_picks_and_head_to_head_wins(workspace, feedback_source, api_for, users):
    feedback_events_ingest(source=feedback_source, events=[
        make_choice(1, question="Q", answers=[("a", "base"), ("b", "tuned"), ("c", "tuned")], chosen=1),
        make_choice(2, question="Q", answers=[("a", "base"), ("b", "tuned")], chosen=1),
        make_choice(3, question="Q", answers=[("a", "base"), ("b", "tuned")], chosen=0),
    ])
    rows = {row.model: row for row in feedback_support_rates(workspace=workspace)}
    assert (rows["tuned"].shown, rows["tuned"].chosen, rows["tuned"].wins, rows["tuned"].losses) == (4, 2, 2, 1)
    assert (rows["base"].shown, rows["base"].chosen, rows["base"].wins, rows["base"].losses) == (3, 1, 1, 2)
    assert rows["tuned"].win_share == 0.5 and rows["tuned"].support_rate == pytest.approx(2 / 3)
    assert rows["tuned"].support_low == pytest.approx(0.2077, abs=1e-4)
    data = api_for(users["product_manager"]).get(f"/api/v1/feedback/support-rates/?workspace={workspace.pk}").json()
    assert [(row["model"], row["shown"], row["chosen"]) for row in data] == [("tuned", 4, 2), ("base", 3, 1)]
    assert (
        api_for(users["outsider"]).get(f"/api/v1/feedback/support-rates/?workspace={workspace.pk}").status_code == 404
    )


@pytest.mark.parametrize("url", ["/api/v1/feedback/sources/", "/api/v1/feedback/events"])
def test_list_endpoints_cost_the_same_queries_for_1_and_10_rows(
    url, api_for, users, workspace, django_assert_num_queries
):
    client = api_for(users["ml_engineer"])
    first = feedback_source_create(workspace=workspace, name="App 0")
    feedback_token_create(source=first)
    feedback_events_ingest(source=first, events=[make_event(0)])
    with django_assert_num_queries(3) as one:  # the token, the count, the page
        assert client.get(url).json()["count"] == 1
    for i in range(1, 10):
        source = feedback_source_create(workspace=workspace, name=f"App {i}")
        feedback_token_create(source=source)
        feedback_events_ingest(source=first, events=[make_event(i)])
    with django_assert_num_queries(len(one.captured_queries)):
        assert client.get(url).json()["count"] == 10


def test_creating_a_source_through_the_api_returns_its_token_once(api_for, users, workspace):
    body = {"workspace": workspace.pk, "name": "Api app", "pii_kinds": ["email"]}
    assert api_for(users["product_manager"]).post("/api/v1/feedback/sources/", body, format="json").status_code == 404
    assert FeedbackSource.objects.count() == 0
    data = api_for(users["ml_engineer"]).post("/api/v1/feedback/sources/", body, format="json").json()
    assert data["token"].startswith("wfb_") and data["pii_kinds"] == ["email"] and data["live_tokens"] == 1
    listed = api_for(users["ml_engineer"]).get("/api/v1/feedback/sources/").json()["results"]
    assert [row["name"] for row in listed] == ["Api app"] and "token" not in listed[0]


def test_source_settings_change_through_the_page_and_the_api(users, api_for, feedback_source):
    url = f"/feedback/sources/{feedback_source.pk}/settings/"
    form = {"pii_kinds": ["card"], "rate_limit_per_minute": 50}
    assert browser_for(users["product_manager"]).post(url, form).status_code == 403
    feedback_source.refresh_from_db()
    assert (feedback_source.pii_scrub, feedback_source.rate_limit_per_minute) == (True, 600_000)
    browser_for(users["ml_engineer"]).post(url, form)
    feedback_source.refresh_from_db()
    assert (feedback_source.pii_scrub, feedback_source.pii_kinds, feedback_source.rate_limit_per_minute) == (
        False,
        ["card"],
        50,
    )
    response = api_for(users["ml_engineer"]).post(
        f"/api/v1/feedback/sources/{feedback_source.pk}/settings/",
        {"pii_scrub": True, "pii_kinds": ["email", "phone"], "rate_limit_per_minute": 0},
        format="json",
    )
    assert response.status_code == 200 and response.json()["pii_kinds"] == ["email", "phone"]


def test_the_workbench_source_is_made_once_even_when_an_app_took_its_name(workspace):
    from feedback.services import feedback_workbench_source
    from feedback.services.sources import WORKBENCH_SOURCE_NAME

    feedback_source_create(workspace=workspace, name=WORKBENCH_SOURCE_NAME)
    source = feedback_workbench_source(workspace=workspace)
    assert (source.name, source.kind) == (f"{WORKBENCH_SOURCE_NAME} (internal)", "workbench")
    assert feedback_workbench_source(workspace=workspace) == source
