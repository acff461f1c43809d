"""What one training run needs to know, as a plain dataclass written to and read from JSON.

The platform writes it (training.services) and the runner reads it; nothing else passes between them,
so a run can be repeated by hand on any machine with `python -m training.runner --config config.json ...`.
"""

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass
class RunConfig:
    base_model_path: str
    """Directory of the model to fine-tune: config.json, weights, tokenizer and chat template (loaded offline)."""

    method: str = "sft"
    """Training method: "sft" (conversations), "dpo" (chosen/rejected pairs) or "kto" (completions liked or disliked)."""

    adapter: str = "lora"
    """What is trained: "lora" (low-rank adapters on every linear layer, base frozen), "qlora" (the same on a 4-bit NF4
    base, bitsandbytes), "prompt_tuning" (learned virtual tokens before the input) or "full" (every weight)."""

    learning_rate: float = 1e-4
    """Peak learning rate of the linear schedule. LoRA usually wants 5e-5 to 1e-4."""

    num_train_epochs: float = 3.0
    """Passes over the training split; ignored when max_steps is positive."""

    max_steps: int = -1
    """Stop after this many optimizer steps; -1 means run num_train_epochs in full."""

    per_device_train_batch_size: int = 4
    """Conversations per forward pass on each device."""

    gradient_accumulation_steps: int = 4
    """Forward passes summed into one optimizer step (effective batch = batch size x this x devices)."""

    lora_r: int = 16
    """Rank of the LoRA matrices: capacity of the adapter."""

    lora_alpha: int = 32
    """LoRA scaling numerator (the update is scaled by alpha / r); 1 to 2 times the rank is usual."""

    lora_dropout: float = 0.05
    """Dropout on the LoRA input during training."""

    max_length: int = 1024
    """Tokens per conversation; longer ones are cut at the end (TRL keeps the start)."""

    logging_steps: int = 5
    """Write a metrics line (loss, learning rate, grad norm, ...) every this many optimizer steps."""

    eval_steps: int = 50
    """Evaluate on the validation split every this many optimizer steps (and once at the end), when there is one."""

    save_steps: int = 0
    """Save a resumable checkpoint every this many optimizer steps (the last two are kept); 0 saves one only when cancelled."""

    seed: int = 42
    """Seeds the weights of the adapter, the data order and dropout: the same config and data give the same run."""

    packing: bool = False
    """SFT: pack conversations into max_length rows without padding (TRL's best-fit decreasing; each keeps its own
    positions, so packed conversations do not attend to each other). See training.runner.batching."""

    padding_free: bool = True
    """SFT without packing: lay each batch out without padding (its conversations in rows as wide as the longest, each
    with its own positions), so no compute goes to padding; the batches, steps and learned tokens stay exactly those of
    padded batches. False is TRL's plain default: each batch padded to its longest conversation."""

    beta: float = 0.1
    """DPO and KTO: how far the trained model may move from the reference (the base with the adapter switched off)."""

    prompt_tuning_virtual_tokens: int = 20
    """Prompt tuning: learned virtual tokens put before every input."""

    assistant_only_loss: bool = True
    """SFT on conversations: learn the assistant's tokens only (its replies and their end-of-turn), reading the system
    and user turns without learning them. Found by the chat template's {% generation %} markers (its own, or TRL's
    marked copy of a template TRL knows) or by rendering each prompt (training.runner.encoding). False learns every
    token. Prompt/completion rows always learn the completion only; DPO and KTO learn only the answers."""

    keep_system_prompt: bool = True
    """For a chat template that drops the system prompt from a conversation ending with the reply (Mistral v0.3):
    put the system prompt into the last user turn, as the template does when the model is asked to answer."""

    keep_reasoning: bool = True
    """Keep the final assistant turn's reasoning ("reasoning_content", or a <think>…</think> block) in the trained
    text; for a template that deletes it (DeepSeek-R1-Distill), train with TRL's training template or ours, which
    keep it. False trains the replies without their reasoning."""

    template_date: str | None = None
    """The date (YYYY-MM-DD) a chat template that writes today's date is pinned to; None pins today's."""

    stream_metrics: bool = True
    """Write metrics.jsonl and progress.json as training goes and stop on CANCEL (the platform's live links). Off only
    to measure what they cost (benchmarks/train_throughput.py): without them a run can be neither watched nor cancelled."""

    resume_from_checkpoint: str | None = None
    """A checkpoint directory (from a cancelled or crashed run) to continue from; None starts afresh."""

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        """Build from a dict; an unknown key is an error, so a typo never silently falls back to a default."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown run config field {unknown[0]!r}")
        return cls(**data)

    @classmethod
    def from_json(cls, path: Path) -> "RunConfig":
        with open(path, encoding="utf-8") as source:
            return cls.from_dict(json.load(source))

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
