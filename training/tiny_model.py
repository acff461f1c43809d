"""A tiny, randomly initialised chat model built from local text, for the demo and the tests.

Nothing is downloaded: the byte-level BPE tokenizer is trained here on the texts given (Chinese and English
alike: byte-level means no character is ever unknown), and the Llama-style weights are drawn from a seeded
generator. The result is an ordinary Hugging Face model directory that AutoTokenizer and AutoModelForCausalLM
load offline, with a ChatML chat template whose `{% generation %}` markers let TRL train on assistant tokens only.

Django-free on purpose: the runner, the test fixtures and the management command all use it.
"""

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

PAD_TOKEN = "<|pad|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [PAD_TOKEN, IM_START, IM_END]

# ChatML, as Qwen and others use it. The assistant's content AND its <|im_end|> sit inside {% generation %} so that
# assistant_only_loss also trains the model to stop. Tools, when given, are listed in the system turn; an assistant's
# tool calls are written as <tool_call>{json}</tool_call>.
CHAT_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' %}"
    "{%- set system_message = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}"
    "{%- else %}{%- set system_message = none %}{%- set loop_messages = messages %}{%- endif %}"
    "{%- if system_message is not none or tools %}"
    "{{- '<|im_start|>system\\n' }}"
    "{%- if system_message is not none %}{{- system_message }}{%- endif %}"
    "{%- if tools %}"
    "{%- if system_message %}{{- '\\n\\n' }}{%- endif %}"
    "{{- '# Tools\\n' }}{%- for tool in tools %}{{- tool | tojson }}{{- '\\n' }}{%- endfor %}"
    "{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in loop_messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}"
    "{{- message['content'] or '' }}"
    "{%- if message['tool_calls'] %}{%- for call in message['tool_calls'] %}"
    "{{- '<tool_call>' }}{{- (call['function'] if call['function'] is defined else call) | tojson }}{{- '</tool_call>' "
    "}}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>' }}"
    "{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Bilingual support sentences: the tokenizer's fallback corpus when no conversations are at hand, and the tests' data.
BUILTIN_TEXTS = [
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

# Llama-style shape: small enough to train a few steps on a CPU in seconds.
TINY_SHAPE = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "max_position_embeddings": 512,
}


def conversation_texts(path: Path) -> Iterator[str]:
    """The message contents of a {"messages": [...]} JSON-lines file, one text per message.

    Raises ValueError naming the line of a row that is not a JSON object.
    """
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"line {number}: not valid JSON ({error.msg})") from error
            if not isinstance(row, dict):
                raise ValueError(f"line {number}: expected a JSON object")
            for message in row.get("messages") or []:
                if isinstance(message, dict) and isinstance(message.get("content"), str) and message["content"]:
                    yield message["content"]


def tokenizer_train(*, texts: Iterable[str], vocab_size: int = 2000):
    """A byte-level BPE tokenizer trained on `texts`, wrapped for transformers, with the ChatML template."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    # trim_offsets=False keeps character offsets exact, which the assistant-token mask relies on.
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # A list, not a generator: the trainer's result must not depend on how the iterable is consumed.
    backend.train_from_iterator(list(texts), trainer=trainer)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        eos_token=IM_END,
        extra_special_tokens=[IM_START],
        model_max_length=TINY_SHAPE["max_position_embeddings"],
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_model_build(*, out_dir: Path, texts: Iterable[str], vocab_size: int = 2000, seed: int = 0,
                     shape: dict | None = None) -> Path:
    """Write a tiny random Llama chat model with a tokenizer trained on `texts` into `out_dir`; return `out_dir`.

    The same texts, vocab_size, seed and shape (default TINY_SHAPE) give the same files. `texts` should hold a few
    hundred sentences at least, or the tokenizer stops far short of `vocab_size` (it still works, byte by byte).
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer_train(texts=texts, vocab_size=vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        **(shape or TINY_SHAPE),
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def tiny_model_pretrain(*, model_dir: Path, conversations: list[list[dict]], steps: int, batch_size: int = 16,
                        block_size: int = 128, learning_rate: float = 3e-3, seed: int = 0, on_step=None) -> list[float]:
    """Train the model in `model_dir` in place as a language model on `conversations` (each rendered with the model's
    chat template, every token learned: the turns, the template's text and each reply's end), for `steps` optimizer
    steps of `batch_size` rows of `block_size` tokens cut from the concatenated text; AdamW, a short warm-up, then a
    cosine decay. Plain torch: this is the base model's own pretraining, before any fine-tune. Returns the loss of every
    step; `on_step(step, loss)` is called after each. The same inputs give the same weights on the same machine.
    """
    import math

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    texts = tokenizer.apply_chat_template(conversations, tokenize=False)
    ids = [token for row in tokenizer(texts, add_special_tokens=False)["input_ids"] for token in row]
    stream = torch.tensor(ids, dtype=torch.long)
    if len(stream) <= block_size:
        raise ValueError(f"{len(stream)} tokens of text are too few for blocks of {block_size}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01, betas=(0.9, 0.95))
    warmup = max(1, steps // 20)

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    model.train()
    model.config.use_cache = False
    losses = []
    for step in range(steps):
        starts = torch.randint(0, len(stream) - block_size, (batch_size,), generator=generator)
        batch = torch.stack([stream[start:start + block_size] for start in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if on_step is not None:
            on_step(step + 1, losses[-1])
    model.config.use_cache = True
    model.eval()
    model.save_pretrained(model_dir)
    return losses


# The real-architecture models' shape: the architecture and vocabulary of the real model, two small layers.
REAL_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}
# config.json fields that follow the layer count or the head size, dropped so transformers derives them again.
_SHAPE_DERIVED = ("layer_types", "head_dim", "architectures", "transformers_version", "torch_dtype", "dtype")


def real_architecture_build(*, tokenizer_dir: Path, out_dir: Path, seed: int = 0) -> Path:
    """Write into `out_dir` a small randomly initialised model of the architecture in `tokenizer_dir`/config.json
    (its vocabulary and special token ids, REAL_SHAPE otherwise) with every other file of `tokenizer_dir` beside it:
    the real tokenizer, chat template and generation config. For a folder of ../shared/data/tokenizers, which holds a
    real chat model's files without its weights. Returns `out_dir`."""
    import shutil

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tokenizer_dir, out_dir = Path(tokenizer_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = json.loads((tokenizer_dir / "config.json").read_text(encoding="utf-8"))
    model_type = data.pop("model_type")
    values = {key: value for key, value in data.items() if key not in _SHAPE_DERIVED}
    values.update(REAL_SHAPE)
    if "max_window_layers" in values:
        values["max_window_layers"] = REAL_SHAPE["num_hidden_layers"]
    config = AutoConfig.for_model(model_type, **values)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(out_dir)
    for source in tokenizer_dir.iterdir():
        if source.is_file() and source.name != "config.json":
            # copyfile, not copy: the files come from a read-only folder and tests edit the copies.
            shutil.copyfile(source, out_dir / source.name)
    return out_dir
