"""The leakage check between splits and the diff between two versions."""

from common.text_similarity import jaccard, shingles
from datahub.leakage import leaks_find
from datahub.models import Record
from datahub.selectors import version_diff, version_leakage
from datahub.services.records import record_build, records_bulk_create, records_insert
from datahub.services.versions import dataset_version_create, dataset_version_freeze


def sft(prompt: str, answer: str = "ok") -> dict:
    return {"kind": "sft", "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


def test_near_duplicates_are_found_in_english_and_chinese():
    train = [
        (1, "h1", "How do I reset my password on the website?"),
        (2, "h2", "我的订单什么时候发货？请尽快告诉我"),
        (3, "h3", "Totally unrelated"),
    ]
    test = [
        (10, "h1", "anything"),
        (11, "x", "How do I reset my password on the web site??"),
        (12, "y", "我的订单什么时候发货？请尽快告诉我。"),
        (13, "z", "What is the capital of France?"),
    ]
    leaks = leaks_find(train=train, test=test)
    # "near" is dedupe's near duplicate: the two English prompts share 6 of 9 word 3-grams (0.67 < 0.8), so only the
    # Chinese one (character 5-grams of the normalised text, identical) is near.
    assert [(l.test_record, l.train_record, l.kind) for l in leaks] == [(10, 1, "exact"), (12, 2, "near")]
    assert jaccard(shingles("abcdefgh"), shingles("abcdefgh")) == 1.0
    long_prompt = (
        "How do I reset my password on the website when I no longer have access to the email address I signed up with"
    )
    near = leaks_find(train=[(1, "h1", long_prompt)], test=[(11, "x", long_prompt + " years ago?")])
    assert [(l.test_record, l.train_record, l.kind, l.similarity) for l in near] == [(11, 1, "near", round(21 / 23, 3))]


def test_version_leakage_reports_test_prompts_seen_in_train(dataset):
    records_bulk_create(dataset=dataset, rows=[sft(f"Question number {n} about shipping to Berlin") for n in range(6)])
    rows = {r.pk: r for r in Record.objects.filter(dataset=dataset)}
    ids = sorted(rows)
    near = record_build(dataset=dataset, clean=sft("Question number 0 about shipping to Berlin please", "different"))
    records_insert(dataset=dataset, records=[near])
    entries = [(ids[0], "train", []), (ids[1], "train", []), (ids[2], "test", []), (near.pk, "test", [])]
    version = dataset_version_create(dataset=dataset, entries=entries, operation="freeze")
    report = version_leakage(version=version)
    # Seven words against eight: character 5-grams against word 3-grams, which share nothing: not a near duplicate.
    assert (report["checked"], report["exact"], report["near"]) == (2, 0, 0)
    assert report["leaks"] == []


def test_version_leakage_reports_a_near_duplicate_test_prompt(dataset):
    question = "Question number {} about shipping a parcel from Shanghai to Berlin by sea and how long customs takes"
    records_bulk_create(dataset=dataset, rows=[sft(question.format(n)) for n in range(6)])
    ids = sorted(Record.objects.filter(dataset=dataset).values_list("pk", flat=True))
    near = record_build(dataset=dataset, clean=sft(question.format(0) + " please", "different"))
    records_insert(dataset=dataset, records=[near])
    entries = [(ids[0], "train", []), (ids[1], "train", []), (ids[2], "test", []), (near.pk, "test", [])]
    version = dataset_version_create(dataset=dataset, entries=entries, operation="freeze")
    report = version_leakage(version=version)
    assert (report["checked"], report["exact"], report["near"]) == (2, 0, 1)
    assert report["leaks"][0]["test_record"] == near.pk and report["leaks"][0]["train_record"] == ids[0]


def test_version_diff_counts_added_removed_changed_and_moved(dataset):
    records_bulk_create(dataset=dataset, rows=[sft(f"q{n}") for n in range(5)])
    ids = sorted(Record.objects.filter(dataset=dataset).values_list("pk", flat=True))
    old = dataset_version_create(dataset=dataset, entries=[(i, "train", []) for i in ids[:4]], operation="freeze")
    fixed = record_build(
        dataset=dataset, clean=sft("q1", "corrected"), parent=Record.objects.get(pk=ids[1]), origin="annotation"
    )
    records_insert(dataset=dataset, records=[fixed])
    new_entries = [(ids[0], "test", []), (fixed.pk, "train", []), (ids[3], "train", []), (ids[4], "train", [])]
    new = dataset_version_create(dataset=dataset, entries=new_entries, operation="freeze", parent=old)
    diff = version_diff(old=old, new=new)
    assert {k: diff[k] for k in ("added", "removed", "changed", "moved", "unchanged")} == {
        "added": 1, "removed": 1, "changed": 1, "moved": 1, "unchanged": 1}
    assert (diff["added_records"], diff["removed_records"]) == ([ids[4]], [ids[2]])
    assert diff["changed_records"] == [{"old": ids[1], "new": fixed.pk}]
    assert diff["moved_records"] == [{"record": ids[0], "from": "train", "to": "test"}]


def test_a_fresh_freeze_has_no_exact_leaks(dataset):
    records_bulk_create(dataset=dataset, rows=[sft(f"Shared prompt {n % 10}", f"answer {n}") for n in range(60)])
    version = dataset_version_freeze(dataset=dataset, seed=3)
    assert version_leakage(version=version)["exact"] == 0


def test_leakage_and_diff_through_api_and_pages(api_for, client, users, dataset):
    from django.urls import reverse

    records_bulk_create(dataset=dataset, rows=[sft(f"q{n}") for n in range(5)])
    first = dataset_version_freeze(dataset=dataset, seed=1)
    records_bulk_create(dataset=dataset, rows=[sft("q9")])
    second = dataset_version_freeze(dataset=dataset, seed=1)
    api = api_for(users["product_manager"])
    leakage = api.get(f"/api/v1/versions/{second.pk}/leakage/")
    assert (leakage.status_code, leakage.json()["exact"], leakage.json()["split"]) == (200, 0, "test")
    assert api.get(f"/api/v1/versions/{second.pk}/leakage/?split=train").json()["where"] == "split"
    diff = api.get(f"/api/v1/versions/{second.pk}/diff/?against={first.pk}").json()
    assert (diff["added"], diff["removed"], diff["old"], diff["new"]) == (1, 0, 1, 2)
    assert (
        api_for(users["crowd_annotator"]).get(f"/api/v1/versions/{second.pk}/diff/?against={first.pk}").status_code
        == 404
    )
    client.force_login(users["product_manager"])
    page = client.get(reverse("datahub:version-detail", args=[second.pk])).content.decode()
    assert reverse("datahub:version-leakage", args=[second.pk]) in page
    assert f'{reverse("datahub:version-diff", args=[second.pk])}?against={first.pk}' in page
    assert "0 exact, 0 near-exact" in client.get(reverse("datahub:version-leakage", args=[second.pk])).content.decode()
    assert (
        "Changes from v1 to v2"
        in client.get(reverse("datahub:version-diff", args=[second.pk]) + f"?against={first.pk}").content.decode()
    )


def test_version_card_counts_mix_sources_and_lengths(client, users, dataset, source, django_assert_num_queries):
    from django.urls import reverse

    from datahub.selectors import version_card

    records_bulk_create(dataset=dataset, rows=[sft(f"q{n}") for n in range(8)], source=source)
    records_bulk_create(
        dataset=dataset, rows=[{"kind": "kto", "label": True, "messages": sft("long " * 100)["messages"]}]
    )
    version = dataset_version_freeze(dataset=dataset, seed=1)
    with django_assert_num_queries(3):
        card = version_card(version=version)
    assert card["total"] == 9
    assert sum(card["mix"][s]["sft"] for s in card["mix"]) == 8 and sum(card["mix"][s]["kto"] for s in card["mix"]) == 1
    assert card["sources"] == [{"name": "Help desk", "kind": "own", "tier": "A", "records": 8},
                               {"name": "", "kind": "", "tier": "", "records": 1}]
    assert card["lengths"]["0–255"] == 8 and card["lengths"]["512–1023"] == 1
    client.force_login(users["product_manager"])
    page = client.get(reverse("datahub:version-card", args=[version.pk])).content.decode()
    assert 'id="card-data"' in page and "Help desk" in page and 'id="card-total">9<' in page
