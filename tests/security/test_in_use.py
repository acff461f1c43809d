"""Deleting something still in use answers 409 naming what uses it, from the API and from the pages, and deletes
nothing."""

import pytest

from annotation.services.ai_annotators import ai_annotator_create
from common.models import HistoryEvent
from llm.models import ModelEndpoint

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def used_endpoint(make_endpoint, annotation_project, users):
    endpoint = make_endpoint(model="1/tiny-chat", name="judge-model")
    ai_annotator_create(
        project=annotation_project, name="triage-bot", endpoint=endpoint, created_by=users["ml_engineer"]
    )
    return endpoint


def test_api_delete_of_an_endpoint_an_ai_annotator_uses_is_a_conflict(http, users, used_endpoint):
    client = http.as_user(users["ml_engineer"])  # makes the user an API token, which is history of its own
    history = HistoryEvent.objects.count()
    response = client.delete(f"/api/v1/model-endpoints/{used_endpoint.pk}/")
    assert response.status_code == 409
    assert response.json() == {"detail": "cannot delete: it is still used by 1 ai annotator (triage-bot)", "where": "",
                               "code": "in_use"}
    assert ModelEndpoint.objects.filter(pk=used_endpoint.pk).exists()
    assert HistoryEvent.objects.count() == history


def test_page_delete_of_an_endpoint_in_use_shows_what_uses_it(http, users, used_endpoint):
    browser = http.browser("ml_engineer", "pw-ml_engineer")
    response = browser.post(f"/endpoints/{used_endpoint.pk}/delete/")
    assert response.status_code == 409
    assert "it is still used by 1 ai annotator (triage-bot)" in response.text
    assert ModelEndpoint.objects.filter(pk=used_endpoint.pk).exists()
