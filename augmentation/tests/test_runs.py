import pytest

from augmentation.eda import eda_variants
from augmentation.models import AugmentationCandidate, AugmentationRun
from augmentation.services.runs import augmentation_run_create, augmentation_run_execute
from common.errors import ApplicationError
from datahub.models import Record


def _run(version, **options):
    run = augmentation_run_create(version=version, methods=["eda"], options=options, run_in_background=False)
    return augmentation_run_execute(run=run)


@pytest.mark.django_db
def test_eda_run_exact_candidates_only_from_train(version):
    run = _run(version, seed=1)
    assert run.status == "succeeded"
    candidates = list(run.candidates.order_by("pk"))
    # 3 train parents x 4 variants; the test record gets none.
    assert len(candidates) == 12 == run.candidate_count
    assert {c.split for c in candidates} == {"train"}
    assert "How do I delete my account?" not in {c.original_text for c in candidates}
    first = [c.text for c in candidates if c.original_text.startswith("How can I get a refund")]
    assert first == [t for _, t in eda_variants("How can I get a refund for a wrong order?", seed=1)]
    # The prompt changes; the answer is the parent's.
    assert all(c.row["messages"][-1] == c.parent.messages[-1] for c in candidates)


@pytest.mark.django_db
def test_eda_filter_exact_kept_and_rejected(make_version):
    original = "Please help me fix this error"
    variant = "Please assist me fix this error"
    assert eda_variants(original, seed=0)[0] == ("synonym", variant)
    run = _run(make_version(train=[(original, "Sure."), ("Hello", "Hi there."), (variant, "Sure.")]), seed=0)
    reasons = {}
    for c in run.candidates.order_by("pk"):
        reasons.setdefault(c.original_text, []).append(c.reason)
    # The original's synonym variant is the third record, and that record's synonym variant is the original.
    assert reasons[original] == ["duplicate_original", "kept", "kept", "kept"]
    # "Hello": one word and no synonym, so every edit leaves it unchanged.
    assert reasons["Hello"] == ["unchanged"] * 4
    # Its deletion happened to drop nothing.
    assert reasons[variant] == ["duplicate_original", "kept", "kept", "unchanged"]
    assert (run.candidate_count, run.passing_count) == (12, 5)


@pytest.mark.django_db
def test_duplicate_candidates_within_a_run(make_version):
    # Deleting from "help me" can only give "help", "me" or the text unchanged: repeats are certain.
    run = _run(
        make_version(train=[("help me", "ok.")]), seed=0, eda_variants=8, eda_operations=["delete"], eda_alpha=0.5
    )
    assert list(run.candidates.order_by("pk").values_list("text", "reason")) == [
        ("me", "kept"),
        ("help me", "unchanged"),
        ("help", "kept"),
        ("help", "duplicate_candidate"),
        ("help me", "unchanged"),
        ("help", "duplicate_candidate"),
        ("me", "duplicate_candidate"),
        ("me", "duplicate_candidate"),
    ]


@pytest.mark.django_db
def test_create_refuses_bad_input_and_creates_nothing(version, make_version):
    with pytest.raises(ApplicationError) as error:
        augmentation_run_create(version=version, methods=["paraphrase"], run_in_background=False)
    assert error.value.where == "endpoint"
    with pytest.raises(ApplicationError) as error:
        augmentation_run_create(version=version, methods=["eda"], options={"eda_alpha": 0.9}, run_in_background=False)
    assert error.value.where == "eda_alpha"
    with pytest.raises(ApplicationError) as error:
        augmentation_run_create(version=make_version(train=[], test=[("a b", "c.")], name="Only test"), methods=["eda"],
                                run_in_background=False)
    assert error.value.where == "version"
    assert AugmentationRun.objects.count() == 0


@pytest.mark.django_db
def test_execute_is_idempotent(version):
    run = _run(version)
    again = augmentation_run_execute(run=run)
    assert again.candidate_count == 12
    assert AugmentationCandidate.objects.filter(run=run).count() == 12
    assert Record.objects.filter(origin="augmentation").count() == 0


@pytest.mark.django_db
def test_an_english_only_model_never_judges_chinese_paraphrases(make_version):
    """all-MiniLM-L6-v2 scores unrelated Chinese sentences above 0.9: such candidates get "unreadable", not a
    verdict."""
    from augmentation.services.runs import candidates_filter

    version = make_version(
        train=[("怎么注销账户？", "在设置里选择“注销账户”。"), ("How do I cancel my account?", "Open Settings.")]
    )
    run = augmentation_run_create(version=version, methods=["eda"], options={}, run_in_background=False)
    records = {r.messages[0]["content"]: r for r in Record.objects.filter(dataset=version.dataset)}
    generated = [(records["怎么注销账户？"], "train", "paraphrase", "", "怎么注销账户？", "灯泡坏了怎么申请退款？"),
                 (records["How do I cancel my account?"], "train", "paraphrase", "", "How do I cancel my account?",
                  "How can I close my account?")]
    verdicts = [(c.reason, sorted(c.scores)) for c in candidates_filter(run=run, generated=generated)]
    assert verdicts[0] == ("unreadable", [])
    assert verdicts[1][0] in ("kept", "too_close", "too_far") and verdicts[1][1] == ["cosine", "rouge_l"]
