"""Storing a batch of feedback events: rate limit, check each event on its own, scrub PII, insert in one statement.

Concurrency: the insert is one `INSERT ... SELECT FROM jsonb_to_recordset(...) ON CONFLICT DO NOTHING RETURNING`, so
two requests racing with the same idempotency key store it once and each learns whether it was the one that did. The
rate limit is a per-source, per-minute counter row bumped by one conditional upsert, shared by every server process.
"""

import json
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from common.errors import ApplicationError
from feedback.models import FeedbackEvent, FeedbackRateWindow, FeedbackSource
from feedback.pii import scrub_text
from feedback.validation import EventInvalid, event_validate, prompt_hash_of

BATCH_MAX = 5000
WINDOW = timedelta(minutes=1)

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"


class RateLimited(ApplicationError):
    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message, where="events", code="rate_limited", extra={"retry_after": retry_after})
        self.retry_after = retry_after


@dataclass
class IngestResult:
    """One status per event, in order (accepted / duplicate / rejected), and the reasons for the rejected ones."""

    statuses: list[str]
    errors: list[dict] = field(default_factory=list)

    def count(self, status: str) -> int:
        return self.statuses.count(status)


def rate_limit_take(*, source: FeedbackSource, events: int, now=None) -> None:
    """Count `events` against the source's limit for the current minute, or raise RateLimited and count nothing.

    One conditional upsert: the row is bumped only when the sum stays within the limit, so concurrent requests in
    any number of processes can never overshoot it together. Runs in its own short transaction (autocommit) so the
    counter row is not held locked while the batch is inserted.
    """
    limit = source.rate_limit_per_minute
    if not limit:
        return
    now = now or timezone.now()
    window_start = now.replace(second=0, microsecond=0)
    retry_after = max(1, 60 - now.second)
    if events > limit:
        raise RateLimited(
            f"a batch of {events} events is more than this source's limit of {limit} a minute", retry_after=retry_after
        )
    table = FeedbackRateWindow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} AS w (source_id, window_start, events) VALUES (%s, %s, %s)
                ON CONFLICT (source_id, window_start) DO UPDATE SET events = w.events + EXCLUDED.events
                WHERE w.events + EXCLUDED.events <= %s
                RETURNING events""",
            [source.pk, window_start, events, limit],
        )
        row = cursor.fetchone()
    if row is None:
        raise RateLimited(
            f"this source may send {limit} events a minute; try again in {retry_after} s", retry_after=retry_after
        )
    if row[0] == events:  # the first batch of a new minute sweeps the source's old windows
        FeedbackRateWindow.objects.filter(source=source, window_start__lt=window_start - timedelta(hours=1)).delete()


def _scrub(clean: dict, kinds: frozenset[str]) -> None:
    replaced = 0
    for message in clean["messages"]:
        message["content"], n = scrub_text(message["content"], kinds)
        replaced += n
    for response in clean["responses"]:
        response["text"], n = scrub_text(response["text"], kinds)
        replaced += n
    for name in ("edited_text", "comment", "user_ref"):
        clean[name], n = scrub_text(clean[name], kinds)
        replaced += n
    clean["pii_replaced"] = replaced


COLUMNS = [
    ("idempotency_key", "text"),
    ("kind", "text"),
    ("messages", "jsonb"),
    ("responses", "jsonb"),
    ("chosen_index", "smallint"),
    ("edited_text", "text"),
    ("comment", "text"),
    ("model", "text"),
    ("prompt_version", "text"),
    ("prompt_hash", "text"),
    ("app_id", "text"),
    ("session_id", "text"),
    ("user_ref", "text"),
    ("metadata", "jsonb"),
    ("pii_replaced", "integer"),
    ("occurred_at", "timestamptz"),
]


def _insert_postgresql(source: FeedbackSource, rows: list[dict], received_at) -> set[str]:
    """Insert the rows, skipping keys the source already has; return the keys actually inserted."""
    names = ", ".join(name for name, _ in COLUMNS)
    record_type = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
    payload = json.dumps([{**row, "occurred_at": row["occurred_at"].isoformat()} for row in rows], ensure_ascii=False)
    table = FeedbackEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (source_id, received_at, {names})
                SELECT %s, %s, {names} FROM jsonb_to_recordset(%s::jsonb) AS t({record_type})
                ON CONFLICT (source_id, idempotency_key) DO NOTHING
                RETURNING idempotency_key""",
            [source.pk, received_at, payload],
        )
        return {key for (key,) in cursor.fetchall()}


def _insert_portable(source: FeedbackSource, rows: list[dict], received_at) -> set[str]:
    """The same for SQLite (one writer at a time, so looking first and inserting after cannot race)."""
    keys = [row["idempotency_key"] for row in rows]
    existing = set(
        FeedbackEvent.objects.filter(source=source, idempotency_key__in=keys).values_list("idempotency_key", flat=True)
    )
    fresh = [
        FeedbackEvent(source=source, received_at=received_at, **row)
        for row in rows
        if row["idempotency_key"] not in existing
    ]
    FeedbackEvent.objects.bulk_create(fresh, batch_size=1000, ignore_conflicts=True)
    return {event.idempotency_key for event in fresh}


def feedback_events_ingest(*, source: FeedbackSource, events: list) -> IngestResult:
    """Store the valid events of a batch and report every event's fate, in order.

    A malformed event is rejected alone, with its index, field and reason; the valid ones of the same batch are
    stored. An idempotency key the source already used (or used earlier in the same batch) is a duplicate and
    changes nothing. Raises ApplicationError for a batch that is not a list of 1 to BATCH_MAX events, and
    RateLimited (nothing stored) when the source is over its limit.
    """
    if not isinstance(events, list) or not events:
        raise ApplicationError("send a non-empty list of events", where="events")
    if len(events) > BATCH_MAX:
        raise ApplicationError(f"a batch holds at most {BATCH_MAX} events, got {len(events)}; split it", where="events",
                               code="too_many")
    rate_limit_take(source=source, events=len(events))
    kinds = frozenset(source.pii_kinds) if source.pii_scrub else frozenset()
    statuses: list[str] = [REJECTED] * len(events)
    errors, rows, row_index, seen = [], [], [], set()
    for index, event in enumerate(events):
        try:
            clean = event_validate(event)
        except EventInvalid as invalid:
            key = event.get("idempotency_key") if isinstance(event, dict) else None
            errors.append({"index": index, "idempotency_key": key if isinstance(key, str) else None,
                           "field": invalid.field, "reason": invalid.reason})
            continue
        if clean["idempotency_key"] in seen:
            statuses[index] = DUPLICATE
            continue
        seen.add(clean["idempotency_key"])
        # The prompt hash is taken before the scrub, so the same conversation groups together whatever the setting.
        clean["prompt_hash"] = prompt_hash_of(clean["messages"])
        if kinds:
            _scrub(clean, kinds)
        else:
            clean["pii_replaced"] = 0
        rows.append(clean)
        row_index.append(index)
    if rows:
        insert = _insert_postgresql if connection.vendor == "postgresql" else _insert_portable
        with transaction.atomic():
            inserted = insert(source, rows, timezone.now())
        for index, row in zip(row_index, rows):
            statuses[index] = ACCEPTED if row["idempotency_key"] in inserted else DUPLICATE
    return IngestResult(statuses=statuses, errors=errors)
