"""A simulated month of production traffic on a slot: each reply recorded by the releases service, its feedback sent
through the ingest API with the reply's id, as a production app would."""

from datetime import date, timedelta

from releases.services.deployments import deployment_reply_record

URL = "/api/v1/feedback/events"
START = date(2026, 10, 1)


def day_of(n: int, start: date = START) -> date:
    return start + timedelta(days=n)


def send_day(client, slot, model, n: int, *, likes: int, dislikes: int, edits: int = 2, picks: tuple = (3, 2),
             latency_ms: float = 200.0, start: date = START) -> None:
    """Day n of the stream: likes, dislikes and edits on replies, picks[0] choices where the slot's reply was picked
    and picks[1] where it was not, every event timed at `latency_ms` plus a little."""
    kinds = ["like"] * likes + ["dislike"] * dislikes + ["edit"] * edits + ["pick"] * picks[0] + ["skip"] * picks[1]
    events = []
    for i, kind in enumerate(kinds):
        reply_id = f"chatcmpl-{start.isoformat()}-d{n}-{i}"
        deployment_reply_record(deployment=slot, role="production", model=model, reply_id=reply_id)
        event = {"idempotency_key": reply_id, "kind": kind,
                 "occurred_at": f"{day_of(n, start).isoformat()}T10:{i % 60:02d}:00Z",
                 "messages": [{"role": "user", "content": f"Where is order {n}-{i}?"}],
                 "responses": [{"text": f"It ships tomorrow ({i}).", "model": "tiny-chat", "prompt_version": "v1"}],
                 "metadata": {"reply_id": reply_id, "latency_ms": latency_ms + i % 7}}
        if kind == "edit":
            event["edited_text"] = "It ships on Monday."
        if kind in ("pick", "skip"):
            event["kind"] = "choice"
            event["responses"].append({"text": "Another answer.", "model": "gpt", "prompt_version": "v1"})
            event["chosen_index"] = 0 if kind == "pick" else 1
        events.append(event)
    response = client.post(URL, {"events": events}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == len(events), response.json()
