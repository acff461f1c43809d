"""Fixtures for training tests, shared through the root conftest.

tiny_model_dir    (session) a tiny random chat model on disk, built once per test session
tiny_base_model   (function) that model registered as a BaseModel of the `workspace` fixture
tiny_adapter_dir  (session) an untrained but non-zero LoRA adapter for the tiny model (replies differ from the base)
tiny_artifact     (function) a succeeded run of `tiny_base_model` on `sft_version` with that adapter as its ModelArtifact
sft_version       (function) a frozen dataset version of bilingual support conversations, train and validation
preference_version (function) the same questions as DPO pairs: the right answer chosen, another question's rejected
kto_version       (function) the same as like/dislike completions: each right answer liked, each wrong one disliked
"""

from pathlib import Path

import pytest
from django.conf import settings

from training.tiny_model import BUILTIN_TEXTS as TINY_TEXTS

DEMO_FILE = Path(settings.BASE_DIR) / "demo" / "data" / "customer_service.jsonl"


def tiny_training_texts() -> list[str]:
    """The built-in sentences, repeated so every pair is frequent enough to merge, plus the demo data if present."""
    from training.tiny_model import conversation_texts

    texts = TINY_TEXTS * 3
    if DEMO_FILE.exists():
        texts.extend(conversation_texts(DEMO_FILE))
    return texts


def support_conversations() -> list[dict]:
    """Canonical SFT rows: each built-in question with its answer, in English and in Chinese."""
    pairs = [
        (TINY_TEXTS[i], TINY_TEXTS[i + 1]) for i in (1, 3, 5, 7, 9, 11)
    ] + [(TINY_TEXTS[i], TINY_TEXTS[i + 1]) for i in (14, 16, 18, 20, 22, 24)]
    return [
        {"kind": "sft", "messages": [
            {"role": "system", "content": "You are a helpful support assistant."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]}
        for question, answer in pairs
    ]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from training.tiny_model import tiny_model_build

    return tiny_model_build(out_dir=tmp_path_factory.mktemp("tiny-model"), texts=tiny_training_texts(), vocab_size=600)


@pytest.fixture
def tiny_base_model(workspace, tiny_model_dir):
    from training.services.base_models import base_model_register

    return base_model_register(workspace=workspace, name="tiny-chat", path=str(tiny_model_dir))


@pytest.fixture(scope="session")
def tiny_adapter_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter made without training: B starts random instead of zero, so it changes the model's replies."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM", init_lora_weights=False))
    out_dir = tmp_path_factory.mktemp("tiny-adapter")
    model.save_pretrained(out_dir)
    return out_dir


@pytest.fixture
def tiny_artifact(workspace, tiny_base_model, sft_version, tiny_adapter_dir):
    from training.models import TrainingRun
    from training.services.artifacts import model_artifact_register
    from training.services.runs import training_run_create, training_run_finish, training_run_start

    run = training_run_create(workspace=workspace, name="tiny-tuned", base_model=tiny_base_model, dataset_version=sft_version)
    run = training_run_start(run=run)
    artifact = model_artifact_register(run=run, path=str(tiny_adapter_dir))
    training_run_finish(run=run, status=TrainingRun.Status.SUCCEEDED)
    return artifact


@pytest.fixture
def sft_version(workspace):
    """A frozen version with 10 train and 2 validation conversations (explicit splits, so counts are exact)."""
    from datahub.models import DatasetVersion, Record
    from datahub.services.datasets import dataset_create
    from datahub.services.records import records_bulk_create
    from datahub.services.versions import dataset_version_create

    dataset = dataset_create(workspace=workspace, name="support")
    records_bulk_create(dataset=dataset, rows=support_conversations())
    ids = list(Record.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True))
    entries = [(pk, "validation" if i in (4, 10) else "train", []) for i, pk in enumerate(ids)]
    return dataset_version_create(dataset=dataset, entries=entries, operation=DatasetVersion.Operation.FREEZE)


def preference_rows() -> list[dict]:
    """Canonical preference rows: each support question with its answer chosen and the next question's answer rejected."""
    conversations = [row["messages"] for row in support_conversations()]
    return [{"kind": "preference", "messages": messages[:2], "chosen": messages[2],
             "rejected": conversations[(index + 1) % len(conversations)][2]} for index, messages in enumerate(conversations)]


def kto_rows() -> list[dict]:
    rows = []
    for row in preference_rows():
        rows.append({"kind": "kto", "messages": row["messages"] + [row["chosen"]], "label": True})
        rows.append({"kind": "kto", "messages": row["messages"] + [row["rejected"]], "label": False})
    return rows


def _frozen_version(workspace, name: str, rows: list[dict], validation_every: int):
    from datahub.models import DatasetVersion, Record
    from datahub.services.datasets import dataset_create
    from datahub.services.records import records_bulk_create
    from datahub.services.versions import dataset_version_create

    dataset = dataset_create(workspace=workspace, name=name)
    records_bulk_create(dataset=dataset, rows=rows)
    ids = list(Record.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True))
    entries = [(pk, "validation" if i % validation_every == validation_every - 1 else "train", []) for i, pk in enumerate(ids)]
    return dataset_version_create(dataset=dataset, entries=entries, operation=DatasetVersion.Operation.FREEZE)


@pytest.fixture
def preference_version(workspace):
    """12 pairs: 10 train, 2 validation."""
    return _frozen_version(workspace, "support preferences", preference_rows(), validation_every=6)


@pytest.fixture
def kto_version(workspace):
    """24 completions: 20 train, 4 validation."""
    return _frozen_version(workspace, "support likes", kto_rows(), validation_every=6)
