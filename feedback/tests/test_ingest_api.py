import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction
from rest_framework.test import APIClient

from feedback.models import FeedbackEvent, FeedbackRateWindow
from feedback.services import (
    feedback_events_ingest,
    feedback_source_create,
    feedback_source_settings_update,
    feedback_token_create,
    feedback_token_revoke,
)
from feedback.services.ingest import RateLimited
from feedback.tests.conftest import make_choice, make_event

URL = "/api/v1/feedback/events"
pytestmark = pytest.mark.django_db


def test_a_batch_of_1000_stores_the_valid_events_and_rejects_the_bad_ones_one_by_one(ingest_client, feedback_source):
    events = [make_event(i, kind=["like", "dislike", "edit", "comment"][i % 4],
                         **({"edited_text": f"Fixed answer {i}"} if i % 4 == 2 else {})) for i in range(1000)]
    events[10]["kind"] = "love"
    events[20]["occurred_at"] = "2026-11-20 10:00"          # no timezone
    del events[30]["responses"][0]["model"]
    events[40]["messages"] = []
    events[50] = "not an object"
    response = ingest_client.post(URL, {"events": events}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (995, 0, 5)
    assert [(e["index"], e["field"], e["reason"]) for e in body["errors"]] == [
        (10, "kind", "unknown kind 'love'; expected one of like, dislike, choice, edit, comment"),
        (20, "occurred_at", "has no timezone (add Z or +08:00)"),
        (30, "responses[0].model", "required"),
        (40, "messages", "must be a non-empty list of {role, content}"),
        (50, "", "an event must be a JSON object"),
    ]
    assert body["errors"][0]["idempotency_key"] == "evt-10"
    assert body["statuses"][10] == "rejected" and body["statuses"][11] == "accepted"
    assert FeedbackEvent.objects.filter(source=feedback_source).count() == 995
    stored = FeedbackEvent.objects.get(source=feedback_source, idempotency_key="evt-2")
    assert (stored.kind, stored.edited_text, stored.user_ref, stored.model, stored.prompt_version) == (
        "edit", "Fixed answer 2", "u-2", "base", "v1")
    assert stored.occurred_at.isoformat() == "2026-11-20T02:00:00+00:00"


def test_a_repeated_idempotency_key_changes_nothing(ingest_client, feedback_source):
    first = ingest_client.post(URL, {"events": [make_event(i) for i in range(3)]}, format="json").json()
    assert first["statuses"] == ["accepted"] * 3
    before = list(FeedbackEvent.objects.order_by("pk").values_list("pk", "idempotency_key", "received_at", "responses"))
    again = [make_event(1, answer="a different answer"), make_event(3), make_event(3)]
    second = ingest_client.post(URL, {"events": again}, format="json").json()
    assert second["statuses"] == ["duplicate", "accepted", "duplicate"]
    assert (second["accepted"], second["duplicates"]) == (1, 2)
    after = list(FeedbackEvent.objects.order_by("pk").values_list("pk", "idempotency_key", "received_at", "responses"))
    assert after[:3] == before and [row[1] for row in after] == ["evt-0", "evt-1", "evt-2", "evt-3"]


def test_a_token_for_one_source_cannot_write_to_another(ingest_client, workspace, other_workspace, users):
    other = feedback_source_create(workspace=other_workspace, name="Other app")
    response = ingest_client.post(URL, {"source": other.pk, "events": [make_event(1)]}, format="json")
    assert response.status_code == 403
    assert FeedbackEvent.objects.count() == 0


def test_revoked_and_unknown_tokens_are_refused(feedback_source, ingest_key):
    token = feedback_source.tokens.get()
    feedback_token_revoke(token=token)
    for key in (ingest_key, "wfb_not-a-real-token"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        response = client.post(URL, {"events": [make_event(1)]}, format="json")
        assert response.status_code == 401
        assert response.json()["detail"] == "invalid or revoked ingest token"
    assert APIClient().post(URL, {"events": [make_event(1)]}, format="json").status_code == 401
    assert FeedbackEvent.objects.count() == 0


def test_an_ingest_token_reads_nothing(ingest_client, feedback_source):
    feedback_events_ingest(source=feedback_source, events=[make_event(1)])
    assert ingest_client.get(URL).status_code == 401
    assert ingest_client.get("/api/v1/feedback/sources/").status_code in (401, 403)  # no user behind it


def test_a_member_who_manages_feedback_may_send_with_their_own_token(api_for, users, feedback_source):
    response = api_for(users["ml_engineer"]).post(
        URL, {"source": feedback_source.pk, "events": [make_event(1)]}, format="json"
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1
    for who in ("product_manager", "staff_annotator", "outsider"):
        response = api_for(users[who]).post(
            URL, {"source": feedback_source.pk, "events": [make_event(2)]}, format="json"
        )
        assert response.status_code in (403, 404), who
    assert FeedbackEvent.objects.count() == 1


def test_batch_size_limits(ingest_client):
    too_many = ingest_client.post(URL, {"events": [make_event(i) for i in range(5001)]}, format="json")
    assert too_many.status_code == 400
    assert too_many.json()["detail"] == "a batch holds at most 5000 events, got 5001; split it"
    assert ingest_client.post(URL, {"events": []}, format="json").status_code == 400
    assert FeedbackEvent.objects.count() == 0


def test_the_rate_limit_counts_events_per_source_and_minute(feedback_source, ingest_client):
    feedback_source_settings_update(
        source=feedback_source, pii_scrub=True, pii_kinds=["email"], rate_limit_per_minute=5
    )
    assert ingest_client.post(URL, {"events": [make_event(i) for i in range(3)]}, format="json").status_code == 200
    limited = ingest_client.post(URL, {"events": [make_event(i) for i in range(3, 6)]}, format="json")
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60 and limited.json()["code"] == "rate_limited"
    assert ingest_client.post(URL, {"events": [make_event(i) for i in range(3, 5)]}, format="json").status_code == 200
    assert FeedbackEvent.objects.count() == 5
    assert list(FeedbackRateWindow.objects.values_list("events", flat=True)) == [5]
    with pytest.raises(RateLimited):
        feedback_events_ingest(source=feedback_source, events=[make_event(9)])


def test_pii_is_scrubbed_before_storage_per_source_setting(workspace, feedback_source):
    event = make_event(1, question="I am li@example.com, phone 13812345678, ID 11010519491231002X",
                       answer="We will call 13812345678.", comment="card 4111 1111 1111 1111")
    feedback_events_ingest(source=feedback_source, events=[event])
    stored = FeedbackEvent.objects.get()
    assert stored.messages[0]["content"] == "I am [EMAIL], phone [PHONE], ID [ID]"
    assert stored.responses[0]["text"] == "We will call [PHONE]."
    assert stored.comment == "card [CARD]" and stored.pii_replaced == 5
    raw = feedback_source_create(workspace=workspace, name="Internal app", pii_scrub=False)
    feedback_events_ingest(source=raw, events=[event])
    assert FeedbackEvent.objects.get(source=raw).messages[0]["content"].startswith("I am li@example.com")


def test_choice_events_are_checked(feedback_source):
    good = make_choice(1, question="Q?", answers=[("a", "base"), ("b", "tuned")], chosen=1)
    bad_index = make_choice(2, question="Q?", answers=[("a", "base"), ("b", "tuned")], chosen=2)
    one = make_choice(3, question="Q?", answers=[("a", "base")], chosen=0)
    result = feedback_events_ingest(source=feedback_source, events=[good, bad_index, one])
    assert result.statuses == ["accepted", "rejected", "rejected"]
    assert [(e["field"], e["reason"]) for e in result.errors] == [
        ("chosen_index", "must be an index between 0 and 1"), ("responses", "a choice needs 2 to 16 candidates, got 1")]
    stored = FeedbackEvent.objects.get()
    assert (stored.chosen_index, stored.model) == (1, "tuned")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the append-only trigger is PostgreSQL's")
def test_events_are_append_only_in_the_database(feedback_source):
    feedback_events_ingest(source=feedback_source, events=[make_event(1)])
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        FeedbackEvent.objects.update(comment="changed")
    assert FeedbackEvent.objects.get().comment == ""


def test_a_key_is_unique_per_source_not_globally(workspace, feedback_source):
    other = feedback_source_create(workspace=workspace, name="Second app")
    assert feedback_events_ingest(source=feedback_source, events=[make_event(1)]).statuses == ["accepted"]
    assert feedback_events_ingest(source=other, events=[make_event(1)]).statuses == ["accepted"]
    with pytest.raises(IntegrityError), transaction.atomic():
        FeedbackEvent.objects.create(**{f.name: getattr(FeedbackEvent.objects.first(), f.name)
                                        for f in FeedbackEvent._meta.concrete_fields if f.name != "id"})


def test_tokens_are_stored_hashed_and_shown_once(feedback_source):
    token, key = feedback_token_create(source=feedback_source)
    assert key.startswith("wfb_") and len(key) == 47
    assert token.prefix == key[:12] and key not in token.key_hash


def test_a_full_batch_of_5000_long_events_is_taken(ingest_client, feedback_source):
    long_answer = "Please open Orders, choose the item and press Refund. " * 20  # ~1 kB each: a 6 MB body
    response = ingest_client.post(
        URL, {"events": [make_event(i, answer=long_answer) for i in range(5000)]}, format="json"
    )
    assert response.status_code == 200 and response.json()["accepted"] == 5000
    assert FeedbackEvent.objects.filter(source=feedback_source).count() == 5000


def test_an_oversized_body_is_refused_before_it_is_read(ingest_client, settings):
    from feedback.api import views

    views.BODY_MAX_BYTES, saved = 1000, views.BODY_MAX_BYTES
    try:
        response = ingest_client.post(URL, {"events": [make_event(i) for i in range(10)]}, format="json")
    finally:
        views.BODY_MAX_BYTES = saved
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert FeedbackEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_senders_racing_with_the_same_keys_store_each_event_once(feedback_source):
    import threading

    from django.db import connections

    batch = [make_event(i) for i in range(500)]
    results = []

    def send():
        try:
            results.append(feedback_events_ingest(source=feedback_source, events=batch))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result.count("accepted") for result in results) == 500
    assert sum(result.count("duplicate") for result in results) == 1500
    assert FeedbackEvent.objects.count() == 500
