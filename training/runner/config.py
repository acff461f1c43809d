"""What one training run needs to know, as a plain dataclass written to and read from JSON.

The platform writes it (training.services) and the runner reads it; nothing else passes between them,
so a run can be repeated by hand on any machine with `python -m training.runner --config config.json ...`.

It is also the one declaration of the hyperparameters a user may set: each such field carries, in its metadata, the
label a page shows, the allowed range, the range usually recommended and a line of help. The service that checks a
run's values, the launch form, the API schema and the `train` command's --set all read them from here
(training.services.hyperparameters); the fields without that metadata are set by the platform, not by the user.
"""

import json
from dataclasses import Field, asdict, dataclass, field, fields
from pathlib import Path


def _(text: str) -> str:
    """Marks a user-facing text for translation without translating it (gettext_noop): the runner imports no Django,
    so makemessages extracts the text from here and the platform translates it where it shows it."""
    return text


def hyperparameter(default, *, label: str, minimum=None, maximum=None, recommended: str = "", help: str = "",
                   choices: tuple[str, ...] = ()):
    """A field a user may set: its default, the label a page shows, the allowed range (numbers only, both ends
    included) or the allowed choices (texts; a text without choices is free, up to TEXT_LIMIT characters), the range
    usually recommended and a line of help."""
    return field(default=default, metadata={"label": label, "minimum": minimum, "maximum": maximum,
                                            "recommended": recommended, "help": help, "choices": choices})


TEXT_LIMIT = 500
ADAPTERS = ("lora", "qlora", "prompt_tuning", "prefix_tuning", "p_tuning", "full")
# peft's prompt-learning adapters: virtual tokens (or keys and values) before the input, the base model frozen.
PROMPT_LEARNING_ADAPTERS = ("prompt_tuning", "prefix_tuning", "p_tuning")
LORA_ADAPTERS = ("lora", "qlora")


def names_list(text: str) -> list[str]:
    """"q_proj, v_proj" → ["q_proj", "v_proj"]: a comma-separated list of module names, in order, without repeats."""
    return list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


def hyperparameter_fields() -> list[Field]:
    """The fields of RunConfig a user may set, in the order pages show them."""
    return [spec for spec in fields(RunConfig) if "label" in spec.metadata]


@dataclass
class RunConfig:
    base_model_path: str
    """Directory of the model to fine-tune: config.json, weights, tokenizer and chat template (loaded offline)."""

    method: str = "sft"
    """Training method: "sft" (conversations), "dpo" (chosen/rejected pairs), "kto" (completions liked or
    disliked) or "grpo" (prompts with a reference answer, rewarded by graders)."""

    adapter: str = "lora"
    """What is trained: "lora" (low-rank adapters on the linear layers lora_target_modules names, base frozen), "qlora"
    (the same on a 4-bit NF4 base, bitsandbytes), "prompt_tuning" (learned virtual tokens before the input),
    "prefix_tuning" (P-tuning v2: learned keys and values before the input in every layer), "p_tuning" (virtual tokens
    made by a small trained encoder) or "full" (every weight, or those freezing leaves trainable)."""

    learning_rate: float = hyperparameter(1e-4, label=_("Learning rate"), minimum=1e-7, maximum=1e-2,
        recommended=_("5e-5 – 1e-4 for LoRA"), help=_("Peak learning rate of the linear schedule."))
    """Peak learning rate of the linear schedule. LoRA usually wants 5e-5 to 1e-4."""

    num_train_epochs: float = hyperparameter(3.0, label=_("Epochs"), minimum=0.01, maximum=100.0,
        recommended=_("3 – 10"), help=_("Passes over the training split; ignored when max steps is set."))
    """Passes over the training split; ignored when max_steps is positive."""

    max_steps: int = hyperparameter(-1, label=_("Max steps"), minimum=-1, maximum=1_000_000,
        recommended=_("-1 = run all epochs"), help=_("Stop after this many optimizer steps."))
    """Stop after this many optimizer steps; -1 means run num_train_epochs in full."""

    per_device_train_batch_size: int = hyperparameter(4, label=_("Batch size per device"), minimum=1, maximum=512,
        recommended=_("1 – 8 on one GPU"), help=_("Conversations per forward pass."))
    """Conversations per forward pass on each device."""

    gradient_accumulation_steps: int = hyperparameter(4, label=_("Gradient accumulation"), minimum=1, maximum=1024,
        recommended=_("2 – 8"), help=_("Forward passes per optimizer step."))
    """Forward passes summed into one optimizer step (effective batch = batch size x this x devices)."""

    lora_r: int = hyperparameter(16, label=_("LoRA rank"), minimum=1, maximum=1024, recommended=_("8 – 64"),
        help=_("Capacity of the adapter."))
    """Rank of the LoRA matrices: capacity of the adapter."""

    lora_alpha: int = hyperparameter(32, label=_("LoRA alpha"), minimum=1, maximum=4096, recommended=_("1 – 2 × rank"),
        help=_("Scaling of the adapter's update."))
    """LoRA scaling numerator (the update is scaled by alpha / r); 1 to 2 times the rank is usual."""

    lora_target_modules: str = hyperparameter(
        "all-linear", label=_("LoRA target modules"), recommended=_("all-linear"),
        help=_("all-linear (every linear layer but the output), attention (the attention projections only), or module "
               "names separated by commas, such as q_proj,v_proj; unknown names are refused."))
    """Where LoRA goes: "all-linear", "attention" (the linear layers inside each layer's attention block) or module
    names separated by commas, each checked against the model's own (training.runner.models.lora_targets)."""

    use_dora: bool = hyperparameter(False, label=_("DoRA (LoRA)"), recommended=_("off; on for small ranks"),
        help=_("Splits each adapted weight into magnitude and direction; closer to full training, slower steps."))
    """peft's DoRA (weight-decomposed LoRA): a learned magnitude per output feature beside the LoRA direction."""

    use_rslora: bool = hyperparameter(False, label=_("rsLoRA (LoRA)"), recommended=_("on for ranks of 64 and more"),
        help=_("Scales the update by alpha / √rank instead of alpha / rank, so high ranks keep learning."))
    """peft's rank-stabilised LoRA: the update is scaled by alpha / sqrt(r)."""

    lora_dropout: float = 0.05
    """Dropout on the LoRA input during training."""

    max_length: int = hyperparameter(1024, label=_("Max length (tokens)"), minimum=16, maximum=131_072,
        recommended=_("longest conversations you care about"), help=_("Longer conversations are cut."))
    """Tokens per conversation; longer ones are cut at the end (TRL keeps the start)."""

    logging_steps: int = hyperparameter(5, label=_("Logging steps"), minimum=1, maximum=100_000,
        recommended=_("1 – 50"), help=_("A point on the loss chart every this many steps."))
    """Write a metrics line (loss, learning rate, grad norm, ...) every this many optimizer steps."""

    eval_steps: int = hyperparameter(50, label=_("Evaluation steps"), minimum=1, maximum=100_000,
        recommended=_("10 – 500"),
        help=_("Validation loss every this many steps, when the version has a validation split."))
    """Evaluate on the validation split every this many optimizer steps (and once at the end), when there is one."""

    save_steps: int = hyperparameter(0, label=_("Checkpoint every (steps)"), minimum=0, maximum=1_000_000,
        recommended=_("0 = only when cancelled"),
        help=_("A resumable checkpoint every this many steps, so a run whose worker dies can continue."))
    """Save a resumable checkpoint every this many optimizer steps (the last two are kept); 0 saves one only when
    cancelled."""

    seed: int = hyperparameter(42, label=_("Seed"), minimum=0, maximum=2**31 - 1,
        help=_("Same seed, same data, same run."))
    """Seeds the weights of the adapter, the data order and dropout: the same config and data give the same run."""

    beta: float = hyperparameter(0.1, label=_("Beta (DPO, KTO)"), minimum=0.001, maximum=10.0,
        recommended=_("0.1 – 0.5"), help=_("How far the tuned model may move from the base; higher keeps it closer."))
    """DPO and KTO: how far the trained model may move from the reference (the base with the adapter switched off)."""

    num_generations: int = hyperparameter(4, label=_("Generations per prompt (GRPO)"), minimum=2, maximum=64,
        recommended=_("4 – 16"),
        help=_("Answers sampled per prompt and compared with each other; the batch size times gradient accumulation "
               "must be a multiple of it."))
    """GRPO: completions sampled per prompt; each is rewarded relative to its group's mean. The per-device batch size
    counts completions, so batch size x accumulation must be divisible by it."""

    max_completion_length: int = hyperparameter(128, label=_("Completion length (GRPO)"), minimum=1, maximum=32_768,
        recommended=_("long enough for a whole answer"), help=_("Tokens generated per answer; longer ones are cut."))
    """GRPO: tokens generated per completion; a completion cut here counts in completions/clipped_ratio."""

    temperature: float = hyperparameter(1.0, label=_("Sampling temperature (GRPO)"), minimum=0.05, maximum=2.0,
        recommended=_("0.7 – 1.0"), help=_("Higher gives more varied answers to compare."))
    """GRPO: sampling temperature of the generations; too low and a group's answers are all alike (no signal)."""

    kl_beta: float = hyperparameter(0.04, label=_("KL β (GRPO)"), minimum=0.0, maximum=1.0,
        recommended=_("0 – 0.04"),
        help=_("Penalty on moving away from the base model; 0 skips the reference model and saves memory."))
    """GRPO: weight of the KL penalty against the reference model (the base with the adapter off). 0 drops it."""

    loss_type: str = hyperparameter("dapo", label=_("Loss (GRPO)"), choices=("dapo", "grpo", "dr_grpo", "bnpo"),
        recommended=_("dapo (TRL's default)"),
        help=_("How token losses are averaged: dapo and dr_grpo avoid the length bias of the original grpo."))
    """GRPO: TRL's loss_type, how per-token losses are aggregated."""

    reward_graders: list = field(default_factory=list)
    """GRPO: the graders that reward each completion, as checked definitions (graders.grading.definitions), copied
    into the run when it was launched; each one's mean is logged as rewards/<name>/mean."""

    prompt_tuning_virtual_tokens: int = hyperparameter(
        20, label=_("Virtual tokens (prompt, prefix, P-tuning)"), minimum=1, maximum=512, recommended=_("10 – 64"),
        help=_("Learned tokens put before every input; prefix tuning puts them in every layer."))
    """Prompt tuning, prefix tuning and P-tuning: learned virtual tokens put before every input (prefix tuning: as keys
    and values in every layer)."""

    trainable_layers: int = hyperparameter(
        0, label=_("Train only the last N layers (full)"), minimum=0, maximum=1024, recommended=_("0 = every layer"),
        help=_("Full training with the other layers, the embeddings and the output frozen; less memory."))
    """Full training: train only the last N decoder layers (with trainable_modules, if named); 0 trains every weight."""

    trainable_modules: str = hyperparameter(
        "", label=_("Train only these modules (full)"), recommended=_("empty = every module"),
        help=_("Module names separated by commas, such as lm_head,norm or mlp; everything else is frozen."))
    """Full training: train only the modules named here (comma-separated; a name matches a module whose dotted path
    ends with it, or contains it as whole segments), with the last trainable_layers layers, if set."""

    padding_free: bool = hyperparameter(True, label=_("Batches without padding (SFT)"), recommended=_("on"),
        help=_("Lays each batch's conversations out without padding, each with its own positions: the same steps "
               "and loss as padded batches, without computing the padding."))
    """SFT without packing: lay each batch out without padding (its conversations in rows as wide as the longest, each
    with its own positions), so no compute goes to padding; the batches, steps and learned tokens stay exactly those of
    padded batches. False is TRL's plain default: each batch padded to its longest conversation."""

    packing: bool = hyperparameter(False, label=_("Pack conversations (SFT)"),
        recommended=_("on for many short conversations"),
        help=_("Fills each row up to max length with several conversations instead of padding: faster, same loss."))
    """SFT: pack conversations into max_length rows without padding (TRL's best-fit decreasing; each keeps its own
    positions, so packed conversations do not attend to each other). See training.runner.batching."""

    assistant_only_loss: bool = hyperparameter(True, label=_("Learn the assistant's replies only (SFT)"),
        recommended=_("on for chat models"),
        help=_("System and user turns and the template's own text are read but not learned; off learns every token."))
    """SFT on conversations: learn the assistant's tokens only (its replies and their end-of-turn), reading the system
    and user turns without learning them. Found by the chat template's {% generation %} markers (its own, or TRL's
    marked copy of a template TRL knows) or by rendering each prompt (training.runner.encoding). False learns every
    token. Prompt/completion rows always learn the completion only; DPO and KTO learn only the answers."""

    keep_system_prompt: bool = hyperparameter(True, label=_("Keep the system prompt"), recommended=_("on"),
        help=_("For a chat template that drops the system prompt from the trained text (Mistral v0.3): put it into "
               "the last user turn, as the template does when the model answers."))
    """For a chat template that drops the system prompt from a conversation ending with the reply (Mistral v0.3):
    put the system prompt into the last user turn, as the template does when the model is asked to answer."""

    keep_reasoning: bool = hyperparameter(True, label=_("Keep the reasoning"), recommended=_("on"),
        help=_("Train the final reply with its reasoning; for a chat template that deletes it (DeepSeek-R1-Distill), "
               "train with a copy of the template that keeps it."))
    """Keep the final assistant turn's reasoning ("reasoning_content", or a <think>…</think> block) in the trained
    text; for a template that deletes it (DeepSeek-R1-Distill), train with TRL's training template or ours, which
    keep it. False trains the replies without their reasoning."""

    template_date: str | None = None
    """The date (YYYY-MM-DD) a chat template that writes today's date is pinned to; None pins today's."""

    stream_metrics: bool = True
    """Write metrics.jsonl and progress.json as training goes and stop on CANCEL (the platform's live links). Off only
    to measure what they cost (benchmarks/train_throughput.py): without them a run can be neither watched nor
    cancelled."""

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
