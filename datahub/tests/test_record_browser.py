"""The record browser: search (English words and Chinese substrings), filters, bulk tagging, fixed query counts."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from common.errors import ApplicationError
from datahub.models import Record, Source
from datahub.selectors import record_search
from datahub.services.records import records_bulk_create, records_tag
from datahub.services.versions import dataset_version_freeze


def sft(prompt: str, answer: str = "ok") -> dict:
    return {"kind": "sft", "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


@pytest.fixture
def records(dataset, source):
    records_bulk_create(
        dataset=dataset,
        rows=[
            sft("Where is my parcel?", "It ships tomorrow."),
            sft("我的包裹在哪里？", "明天发货。"),
            sft("Refund for order 7", "Done."),
        ],
        source=source,
    )
    records_bulk_create(
        dataset=dataset, rows=[{"kind": "kto", "label": False, "messages": sft("Rude reply " + "x" * 300)["messages"]}]
    )
    return {r.messages[0]["content"][:6]: r for r in Record.objects.filter(dataset=dataset)}


def prompts(queryset) -> list[str]:
    return [r.messages[0]["content"][:6] for r in queryset]


def test_search_english_words_and_chinese_substrings(dataset, records):
    assert prompts(record_search(dataset=dataset, q="parcel")) == ["Where "]
    assert prompts(record_search(dataset=dataset, q="ships")) == ["Where "]
    assert prompts(record_search(dataset=dataset, q="包裹")) == ["我的包裹在哪"]
    assert prompts(record_search(dataset=dataset, q="发货")) == ["我的包裹在哪"]
    assert prompts(record_search(dataset=dataset, q="nothing-like-this")) == []


def test_filters(dataset, records, source):
    assert len(record_search(dataset=dataset, source_id=source.pk)) == 3
    assert prompts(record_search(dataset=dataset, kind="kto")) == ["Rude r"]
    assert prompts(record_search(dataset=dataset, label=False)) == ["Rude r"]
    assert prompts(record_search(dataset=dataset, min_length=300)) == ["Rude r"]
    assert len(record_search(dataset=dataset, max_length=299)) == 3
    version = dataset_version_freeze(dataset=dataset, seed=0)
    by_split = {
        split: len(record_search(dataset=dataset, version=version, split=split))
        for split in ("train", "validation", "test")
    }
    assert by_split == version.counts


def test_bulk_tagging_and_tag_filter(dataset, records, other_workspace):
    ids = [records["Where "].pk, records["我的包裹在哪"].pk]
    assert records_tag(dataset=dataset, record_ids=ids, add=["shipping", "物流"]) == 2
    assert records_tag(dataset=dataset, record_ids=ids, add=["shipping"]) == 0
    assert sorted(prompts(record_search(dataset=dataset, tag="shipping"))) == ["Where ", "我的包裹在哪"]
    assert len(record_search(dataset=dataset, tag="物流")) == 2
    assert records_tag(dataset=dataset, record_ids=ids[:1], remove=["物流"]) == 1
    assert Record.objects.get(pk=ids[0]).tags == ["shipping"]
    with pytest.raises(ApplicationError) as caught:
        records_tag(dataset=dataset, record_ids=[999999], add=["x"])
    assert caught.value.message == f"record 999999 is not in dataset {dataset.name!r}"


def test_api_search_and_tagging(api_for, users, dataset, records):
    client = api_for(users["ml_engineer"])
    found = client.get(f"/api/v1/datasets/{dataset.pk}/records/", {"q": "包裹"}).json()
    assert [r["id"] for r in found["results"]] == [records["我的包裹在哪"].pk]
    assert client.get(f"/api/v1/datasets/{dataset.pk}/records/", {"split": "train"}).json()["where"] == "split"
    tagged = client.post(
        f"/api/v1/datasets/{dataset.pk}/records/tags/",
        {"records": [records["Refund"].pk], "add": ["billing"]},
        format="json",
    )
    assert (tagged.status_code, tagged.json()) == (200, {"changed": 1})
    denied = api_for(users["product_manager"]).post(f"/api/v1/datasets/{dataset.pk}/records/tags/",
                                                    {"records": [records["Refund"].pk], "add": ["x"]}, format="json")
    assert denied.status_code == 403
    assert Record.objects.get(pk=records["Refund"].pk).tags == ["billing"]


def test_browser_filter_and_bulk_tag(client, users, dataset, records):
    client.force_login(users["ml_engineer"])
    page = client.get(reverse("datahub:dataset-detail", args=[dataset.pk]), {"q": "parcel"}).content.decode()
    assert "Where is my parcel?" in page and "Refund for order 7" not in page
    response = client.post(
        reverse("datahub:dataset-records-tag", args=[dataset.pk]),
        {"record": [records["Refund"].pk], "tags-add": "billing, urgent", "filter_query": "q=Refund"},
    )
    assert response.status_code == 302 and response["Location"].endswith("?q=Refund#records")
    assert Record.objects.get(pk=records["Refund"].pk).tags == ["billing", "urgent"]
    page = client.get(reverse("datahub:dataset-detail", args=[dataset.pk]), {"tag": "urgent"}).content.decode()
    assert "Refund for order 7" in page and "Where is my parcel?" not in page


def test_filtered_browser_costs_the_same_for_1_and_10_rows(client, users, workspace, source):
    from datahub.services.datasets import dataset_create

    client.force_login(users["ml_engineer"])
    counts = []
    for n in (1, 10):
        dataset = dataset_create(workspace=workspace, name=f"Browse {n}")
        records_bulk_create(dataset=dataset, rows=[sft(f"parcel question {i}") for i in range(n)], source=source)
        Record.objects.filter(dataset=dataset).update(tags=["a"])
        dataset_version_freeze(dataset=dataset, seed=0, ratios={"train": 1.0, "validation": 0.0, "test": 0.0})
        with CaptureQueriesContext(connection) as queries:
            response = client.get(
                reverse("datahub:dataset-detail", args=[dataset.pk]),
                {"q": "parcel", "tag": "a", "source": source.pk, "version": 1, "split": "train", "min_length": 1},
            )
        assert response.status_code == 200
        assert response.content.decode().count('name="record"') == n
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_source_stats_and_page(client, users, workspace, dataset, write_file, import_path):
    from datahub.selectors import source_stats
    from datahub.services.datasets import source_create

    desk = source_create(workspace=workspace, name="Desk")
    chat = source_create(workspace=workspace, name="Chat")
    job = import_path(
        dataset,
        write_file(
            "a.jsonl",
            [
                {"instruction": "你好吗？", "output": "很好"},
                {"instruction": "Hi", "output": "Yo"},
                {"instruction": "Hi", "output": "Yo"},
            ],
        ),
        source=desk,
    )
    assert job.duplicate_count == 1
    records_bulk_create(dataset=dataset, source=chat, rows=[
        {"kind": "kto", "label": n == 0, "messages": sft(f"k{n}")["messages"]} for n in range(3)])
    stats = {s.name: s for s in source_stats(user=users["ml_engineer"])}
    desk_stats, chat_stats = stats["Desk"], stats["Chat"]
    assert (
        desk_stats.record_count,
        desk_stats.cjk_count,
        desk_stats.other_count,
        desk_stats.sft_count,
        desk_stats.duplicates,
    ) == (2, 1, 1, 2, 1)
    assert (chat_stats.record_count, chat_stats.kto_count, chat_stats.kto_desirable, chat_stats.kto_undesirable) == (
        3,
        3,
        1,
        2,
    )
    # PostgreSQL prints jsonb with ", " and ": " and keeps CJK as text; SQLite stores json.dumps' \u escapes.
    ascii_only = connection.vendor != "postgresql"
    assert desk_stats.chars == sum(
        len(json.dumps(r.messages, ensure_ascii=ascii_only)) for r in Record.objects.filter(source=desk)
    )
    client.force_login(users["product_manager"])
    page = client.get(reverse("datahub:source-stats")).content.decode()
    assert 'id="source-data"' in page and f'id="source-{desk.pk}"' in page


def test_source_stats_page_costs_the_same_for_1_and_10_sources(client, users, workspace):
    from datahub.services.datasets import source_create

    client.force_login(users["ml_engineer"])
    counts = []
    for n in (1, 10):
        while Source.objects.count() < n:
            source_create(workspace=workspace, name=f"S{Source.objects.count()}")
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("datahub:source-stats")).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
