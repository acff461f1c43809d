"""Fixtures for training tests, shared through the root conftest.

tiny_model_dir    (session) a tiny random chat model on disk, built once per test session
tiny_base_model   (function) that model registered as a BaseModel of the `workspace` fixture
sft_version       (function) a frozen dataset version of bilingual support conversations, train and validation
"""

from pathlib import Path

import pytest
from django.conf import settings

# Bilingual support sentences: enough for the tokenizer to learn common merges in both scripts.
TINY_TEXTS = [
    "Hello! How can I help you today?",
    "I would like to return my order.",
    "Sure. Please send me your order number and I will start the return.",
    "Where is my package? It has not arrived yet.",
    "Your package left the warehouse yesterday and should arrive within three days.",
    "How much does shipping cost?",
    "Shipping is free for orders over 50 dollars; otherwise it costs 5 dollars.",
    "Can I change the delivery address?",
    "Yes, as long as the order has not shipped. What is the new address?",
    "Thank you, that was helpful.",
    "You are welcome. Have a nice day!",
    "The lamp does not turn on after the update.",
    "Please hold the power button for ten seconds to reset it, then try again.",
    "你好！今天有什么可以帮您？",
    "我想退货。",
    "好的，请提供您的订单号，我来帮您办理退货。",
    "我的包裹还没到，在哪里？",
    "您的包裹昨天已从仓库发出，预计三天内送达。",
    "运费怎么算？",
    "订单满五十元免运费，否则运费为五元。",
    "可以修改收货地址吗？",
    "可以，只要订单还没有发货。新的地址是什么？",
    "谢谢，很有帮助。",
    "不客气，祝您愉快！",
    "台灯更新后打不开了。",
    "请按住电源键十秒钟重置，然后再试一次。",
]

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
