"""Fixtures for training tests, shared through the root conftest.

tiny_model_dir    (session) a tiny random chat model on disk, built once per test session
tiny_base_model   (function) that model registered as a BaseModel of the `workspace` fixture
tiny_adapter_dir  (session) an untrained but non-zero LoRA adapter for the tiny model (replies differ from the base)
tiny_artifact     (function) a succeeded run of `tiny_base_model` on `sft_version` with that adapter as its
                  ModelArtifact
sft_version       (function) a frozen dataset version of bilingual support conversations, train and validation
preference_version (function) the same questions as DPO pairs: the right answer chosen, another question's rejected
kto_version       (function) the same as like/dislike completions: each right answer liked, each wrong one disliked
reasoning_version (function) the support conversations, each answer with the assistant's reasoning before it
real_model_dirs   (session) name → a small random model of a real chat architecture with its real tokenizer and
                  template, one per folder of ../shared/data/tokenizers (training.tiny_model.real_architecture_build),
                  built on first use; the tests that need one skip, loudly, when ../shared is absent, and fail instead
                  when WHETSTONE_REQUIRE_SHARED_DATA=1 (CI sets it)
chat_model_dirs   (session) name → the same, plus "tiny" for tiny_model_dir: every template the tests cover
turn_end_model_dir (session) a Qwen2.5 model whose tokenizer's eos is <|endoftext|> while a turn ends with <|im_end|>,
                  wired to answer "Hello<|im_end|>Hello<|im_end|>…" greedily: it stops after one word only when
                  generation stops at the turn's end
"""

import json
from pathlib import Path

import pytest
from django.conf import settings

from tests.shared_data import SHARED_DATA, shared_data_absent
from training.tiny_model import BUILTIN_TEXTS as TINY_TEXTS

DEMO_FILE = Path(settings.BASE_DIR) / "demo" / "data" / "customer_service.jsonl"
SHARED_TOKENIZERS = SHARED_DATA / "tokenizers"
REAL_MODELS = (
    "qwen2.5-7b-instruct",
    "mistral-7b-instruct-v0.3",
    "deepseek-r1-distill-qwen-7b",
    "deepseek-r1-distill-qwen-7b-current",
)
CHAT_MODELS = ("tiny", *REAL_MODELS)


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
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM", init_lora_weights=False),
    )
    out_dir = tmp_path_factory.mktemp("tiny-adapter")
    model.save_pretrained(out_dir)
    return out_dir


@pytest.fixture
def tiny_artifact(workspace, tiny_base_model, sft_version, tiny_adapter_dir):
    from training.models import TrainingRun
    from training.services.artifacts import model_artifact_register
    from training.services.runs import training_run_create, training_run_finish, training_run_start

    run = training_run_create(
        workspace=workspace, name="tiny-tuned", base_model=tiny_base_model, dataset_version=sft_version
    )
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
    """Canonical preference rows: each support question with its answer chosen and the next question's answer
    rejected."""
    conversations = [row["messages"] for row in support_conversations()]
    return [
        {
            "kind": "preference",
            "messages": messages[:2],
            "chosen": messages[2],
            "rejected": conversations[(index + 1) % len(conversations)][2],
        }
        for index, messages in enumerate(conversations)
    ]


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
    entries = [
        (pk, "validation" if i % validation_every == validation_every - 1 else "train", []) for i, pk in enumerate(ids)
    ]
    return dataset_version_create(dataset=dataset, entries=entries, operation=DatasetVersion.Operation.FREEZE)


@pytest.fixture
def reasoning_version(workspace):
    """The support conversations with the assistant's reasoning before each answer: 10 train, 2 validation."""
    rows = []
    for row in support_conversations():
        question, answer = row["messages"][1:]
        rows.append({**row, "messages": [row["messages"][0], question,
                                         {**answer, "reasoning_content": f"The customer asks: {question['content']}"}]})
    return _frozen_version(workspace, "support reasoning", rows, validation_every=6)


@pytest.fixture
def preference_version(workspace):
    """12 pairs: 10 train, 2 validation."""
    return _frozen_version(workspace, "support preferences", preference_rows(), validation_every=6)


@pytest.fixture
def kto_version(workspace):
    """24 completions: 20 train, 4 validation."""
    return _frozen_version(workspace, "support likes", kto_rows(), validation_every=6)


@pytest.fixture(scope="session")
def real_model_dirs(tmp_path_factory):
    """name → the directory of a small random model of that folder's real architecture (see the module docstring)."""
    from training.tiny_model import real_architecture_build

    root = tmp_path_factory.mktemp("real-models")
    built: dict[str, Path] = {}

    def model_dir(name: str) -> Path:
        if name not in built:
            folder = SHARED_TOKENIZERS / name
            if not (folder / "config.json").is_file():
                shared_data_absent(folder)
            built[name] = real_architecture_build(tokenizer_dir=folder, out_dir=root / name)
        return built[name]

    return model_dir


@pytest.fixture(scope="session")
def chat_model_dirs(real_model_dirs, tiny_model_dir):
    return lambda name: tiny_model_dir if name == "tiny" else real_model_dirs(name)


@pytest.fixture(scope="session")
def turn_end_model_dir(real_model_dirs, tmp_path_factory) -> Path:
    """See the module docstring. Every layer's output is zeroed, so the last hidden state is the current token's
    embedding: "Hello" is embedded on axis 1, <|im_end|> on axis 2, every other token on axis 0, and the output head
    maps axes 0 and 2 to "Hello" and axis 1 to <|im_end|>."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir = tmp_path_factory.mktemp("turn-end-model")
    shutil.copytree(real_model_dirs("qwen2.5-7b-instruct"), out_dir, dirs_exist_ok=True)
    tokenizer_config = json.loads((out_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer_config["eos_token"] = "<|endoftext|>"
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    # Only the eos, as an int: nothing but the chat template says that <|im_end|> ends a turn.
    generation = json.loads((out_dir / "generation_config.json").read_text(encoding="utf-8"))
    (out_dir / "generation_config.json").write_text(
        json.dumps({**generation, "eos_token_id": 151643}), encoding="utf-8"
    )

    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    word, turn_end = tokenizer.convert_tokens_to_ids("Hello"), tokenizer.convert_tokens_to_ids("<|im_end|>")
    model = AutoModelForCausalLM.from_pretrained(out_dir)
    with torch.no_grad():
        embeddings = model.get_input_embeddings().weight
        embeddings.zero_()
        embeddings[:, 0] = 1.0
        embeddings[word] = torch.nn.functional.one_hot(torch.tensor(1), embeddings.shape[1]).float()
        embeddings[turn_end] = torch.nn.functional.one_hot(torch.tensor(2), embeddings.shape[1]).float()
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.norm.weight.fill_(1.0)
        head = model.get_output_embeddings().weight
        head.zero_()
        head[word, 0] = head[word, 2] = 1.0
        head[turn_end, 1] = 1.0
    model.save_pretrained(out_dir)
    return out_dir
