"""The demo's base model: the tiny model pretrained on everyday conversation the project writes itself (cached by its
recipe under var/cache), or a model directory the operator names with MODEL=, registered in the demo workspace."""

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from common.storage import workspace_storage
from demo.corpus import pretraining_conversations
from training.services.base_models import base_model_register
from training.tiny_model import BUILTIN_TEXTS, conversation_texts, tiny_model_build, tiny_model_pretrain

# The support conversations the demo imports; their text also trains the demo tokenizer.
DEMO_DATA = Path(__file__).resolve().parent / "data" / "customer_service.jsonl"

# The demo's base model: the tiny Llama-style model, a little larger than the tests' (training.tiny_model.TINY_SHAPE),
# pretrained on PRETRAIN_CONVERSATIONS conversations of everyday talk (demo/corpus.py) so that it writes readable text.
DEMO_SHAPE = {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
              "intermediate_size": 384, "max_position_embeddings": 512}
DEMO_VOCAB = 3000
PRETRAIN_CONVERSATIONS = 4000
PRETRAIN_STEPS = 400
PRETRAIN_SETTINGS = {"batch_size": 16, "block_size": 128, "learning_rate": 3e-3, "seed": 0}
# The demo's fine-tune of the tiny model: every weight (its pretraining never saw the shop's words, whose embeddings a
# LoRA adapter cannot reach), long enough to learn the shop's replies by heart (about 18 passes over the train split),
# so its answers are the shop's sentences rather than fragments of them.
DEMO_TRAIN_STEPS = 250
TINY_FINE_TUNE = {"learning_rate": 3e-3, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1,
                  "logging_steps": 10}


def demo_base_model_cache() -> Path:
    """Where pretrained demo base models are kept between runs: var/cache/demo-base-model/<key>/."""
    return Path(settings.VAR_DIR) / "cache" / "demo-base-model"


def demo_base_model_build(*, steps: int = PRETRAIN_STEPS, say: Callable[[str], None] = print) -> tuple[Path, bool]:
    """The pretrained tiny base model's directory in the cache, built (tokenizer, random weights, `steps` steps of
    pretraining) unless a model built from the same text and settings is there already. Returns (directory, reused).

    The cache key is a hash of everything that decides the weights: the pretraining conversations, the tokenizer's text,
    the shape, vocabulary size, steps and optimizer settings. A half-written build never takes the key's place: it is
    written beside it and renamed when done.
    """
    conversations = pretraining_conversations(count=PRETRAIN_CONVERSATIONS)
    texts = (
        [m["content"] for messages in conversations for m in messages]
        + list(conversation_texts(DEMO_DATA))
        + BUILTIN_TEXTS
    )
    recipe = {
        "conversations": conversations,
        "texts": texts,
        "shape": DEMO_SHAPE,
        "vocab_size": DEMO_VOCAB,
        "steps": steps,
        **PRETRAIN_SETTINGS,
    }
    key = hashlib.sha256(json.dumps(recipe, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]
    target = demo_base_model_cache() / key
    if (target / "config.json").is_file():
        return target, True
    building = target.with_name(f".{key}.{os.getpid()}.partial")
    shutil.rmtree(building, ignore_errors=True)
    tiny_model_build(
        out_dir=building, texts=texts, vocab_size=DEMO_VOCAB, seed=PRETRAIN_SETTINGS["seed"], shape=DEMO_SHAPE
    )

    def progress(step: int, loss: float) -> None:
        if step % 50 == 0 or step == steps:
            say(f"  pretraining step {step}/{steps}: loss {loss:.2f}")

    say(
        f"pretraining the tiny base model on {len(conversations)} everyday conversations ({steps} steps; cached in "
        f"{target})"
    )
    tiny_model_pretrain(
        model_dir=building, conversations=conversations, steps=steps, on_step=progress, **PRETRAIN_SETTINGS
    )
    (building / "whetstone-demo.json").write_text(
        json.dumps(
            {"key": key, "steps": steps, "conversations": len(conversations), "shape": DEMO_SHAPE, **PRETRAIN_SETTINGS},
            indent=2,
        )
    )
    try:
        building.rename(target)
    except OSError:  # another demo finished the same build first: theirs is as good
        shutil.rmtree(building, ignore_errors=True)
    return target, False


def model_roots_allow(directory: Path) -> None:
    """Let this process (and the worker it starts, through the environment) register `directory` as a base model:
    add it to the operator's model roots for the demo only (README: `make demo MODEL=...`)."""
    directory = directory.resolve()
    if not any(directory.is_relative_to(Path(root).resolve()) for root in settings.MODEL_ROOTS):
        settings.MODEL_ROOTS = [*settings.MODEL_ROOTS, directory]
    os.environ["WHETSTONE_MODEL_ROOTS"] = os.pathsep.join(str(root) for root in settings.MODEL_ROOTS)


def demo_base_model_register(*, workspace, registered_by, model_dir: Path | None, pretrain_steps: int,
                             say: Callable[[str], None]):
    """The demo's base model: the directory given (`make demo MODEL=...`), else the pretrained tiny model, copied from
    the cache into the workspace's storage."""
    if model_dir is not None:
        model_dir = Path(model_dir).expanduser().resolve()
        model_roots_allow(model_dir)
        base_model = base_model_register(
            workspace=workspace, name=model_dir.name, path=model_dir, registered_by=registered_by
        )
        say(f"registered the model directory {model_dir} as the base model {base_model.name} "
            f"({base_model.parameter_count:,} parameters)")
        return base_model
    cached, reused = demo_base_model_build(steps=pretrain_steps, say=say)
    out_dir = workspace_storage(workspace.pk) / "models" / "tiny-chat"
    shutil.copytree(cached, out_dir, dirs_exist_ok=True)
    base_model = base_model_register(workspace=workspace, name="tiny-chat", path=out_dir, registered_by=registered_by)
    say(f"{'reused the pretrained' if reused else 'built and pretrained the'} tiny base model {base_model.name} "
        f"({base_model.parameter_count:,} parameters){' from ' + str(cached) if reused else ''}")
    return base_model
