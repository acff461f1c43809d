"""The assist figures on the slot's page and the feedback dashboard, and the workbench's slot presets: a fixed
number of queries whatever the number of picks and slots."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from feedback.services import feedback_events_ingest, feedback_source_create
from feedback.tests.test_assist_counting import assist_choice
from releases.services.deployments import deployment_candidate_set, deployment_create

pytestmark = pytest.mark.django_db


def _count(client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def _slot(workspace, name, production, candidate):
    slot = deployment_create(workspace=workspace, name=name, production=production)
    return deployment_candidate_set(deployment=slot, candidate=candidate, share=0.1, support_band_low=0.5)


def _picks(source, slot, first: int, n: int, *, candidate_wins: int) -> None:
    sides = ["production", "candidate", "candidate", "production"]
    candidate = {"kind": "base_model", "id": slot.candidate.pk, "name": slot.candidate.name}
    feedback_events_ingest(source=source, events=[
        assist_choice(first + i, sides=sides, chosen=1 if i < candidate_wins else 0, deployment=slot.pk,
                      slot=slot.name, candidate=candidate) for i in range(n)])


def test_slot_page_and_dashboard_cost_the_same_queries_for_1_and_10_picks(
        client, users, workspace, tiny_base_model, candidate_base_model):
    source = feedback_source_create(workspace=workspace, name="Shop")
    slot = _slot(workspace, "support-bot", tiny_base_model, candidate_base_model)
    client.force_login(users["product_manager"])
    slot_url = reverse("releases:deployment-detail", args=[slot.pk])
    dashboard_url = f"/feedback/?workspace={workspace.pk}&days=365"
    _picks(source, slot, 0, 1, candidate_wins=1)
    slot_one, _ = _count(client, slot_url)
    dashboard_one, _ = _count(client, dashboard_url)
    other = _slot(workspace, "billing-bot", tiny_base_model, candidate_base_model)
    _picks(source, slot, 1, 9, candidate_wins=5)
    _picks(source, other, 10, 10, candidate_wins=0)
    slot_ten, slot_page = _count(client, slot_url)
    dashboard_ten, dashboard = _count(client, dashboard_url)
    assert slot_ten == slot_one and dashboard_ten == dashboard_one
    # The slot's page: its own picks only (10, of which the candidate 6), one comparison each.
    assert slot_page.count("<tr><td>") == 1 and "<td>10</td><td>6</td>" in slot_page
    assert "billing-bot" not in slot_page.split('id="slot-assist-table"')[1].split("</table>")[0]
    # The dashboard: both slots; 0 of 10 claims the "damaged" band of studies.
    table = dashboard.split('id="assist-table"')[1].split("</table>")[0]
    assert "<td>billing-bot</td>" in table and "<td>support-bot</td>" in table
    assert 'class="verdict-damaged">the fine-tune damaged the model</td>' in table


def test_the_workbench_lists_slot_presets_in_the_same_queries_for_1_and_10_slots(
        client, users, workspace, tiny_base_model, candidate_base_model):
    client.force_login(users["staff_annotator"])
    url = f"/feedback/workbench/?workspace={workspace.pk}"
    _slot(workspace, "slot-0", tiny_base_model, candidate_base_model)
    deployment_create(workspace=workspace, name="no-candidate", production=tiny_base_model)
    one, _ = _count(client, url)
    for i in range(1, 10):
        _slot(workspace, f"slot-{i}", tiny_base_model, candidate_base_model)
    ten, page = _count(client, url)
    assert ten == one
    assert page.count("Assist for slot slot-") == 10 and "no-candidate" not in page
