"""How much memory one training device needs for a run, before it starts (docs/reference.md §2).
Pure arithmetic, Django-free.

Per device, in bytes; H hidden, K = kv_heads·head_dim, M intermediate, L layers, V vocab, r LoRA rank,
T = tokens per micro-batch (batch × max length; packing fills every row to max length, so the same):

    P_lin = L·(2H² + 2H·K + 3H·M);  P_emb = V·H·(1 if tied else 2);  P_norm ≈ (2L+1)·H
    P_lora = L·r·[(H+H)·2 + (H+K)·2 + (H+M)·2 + (M+H)]              (all linear layers)
    weights      full mixed precision P·6 | full pure bf16 P·2 | LoRA P·2 | QLoRA P_lin·4.127/8 + (P_emb+P_norm)·2
    trainable    full: grads P·4 + Adam P·8 (pure bf16: P·2 + P·4) | LoRA/QLoRA: P_lora·16
    activations  with gradient checkpointing L·T·H·2 + T·(12H + 8M); without ≈ L·T·(12H + 8M)
    logits       T·V·10, or ≈0 with TRL's chunked loss
    DPO / KTO    T counts both sequences of a pair; the reference weights P·2 are added unless PEFT
    GRPO         T = completions per micro-batch × (prompt + completion length); the reference weights P·2 are added
                 unless PEFT or β = 0; generating keeps a KV cache of 2·L·K·G·(prompt + completion)·2 bytes for the G
                 completions sampled at once (TRL: batch × gradient accumulation), counted with the activations
    overhead     runtime context, then × a fragmentation factor
"""

from dataclasses import dataclass

GIB = 1024**3
# bitsandbytes NF4 with double quantization: 4 bits plus the block scales, per parameter.
NF4_BITS_PER_PARAMETER = 4.127
RUNTIME_CONTEXT_GIB = 0.75  # CUDA context, cuBLAS workspaces, the allocator's first pools
FRAGMENTATION_FACTOR = 1.10  # the caching allocator never packs perfectly
PROMPT_TUNING_VIRTUAL_TOKENS = 20

METHODS = ("sft", "dpo", "kto", "grpo")
ADAPTERS = ("full", "lora", "qlora", "prompt_tuning")
PREFERENCE_METHODS = ("dpo", "kto")


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer that decide its memory."""

    hidden: int
    kv_dim: int
    intermediate: int
    layers: int
    vocab: int
    tied_embeddings: bool = False

    @classmethod
    def from_config(cls, config: dict) -> "ModelShape":
        """From a Hugging Face config.json (Llama, Qwen, Mistral, Gemma and their kin name these fields alike).

        Raises ValueError naming the first field that is missing.
        """
        for field in ("hidden_size", "num_hidden_layers", "vocab_size"):
            if not isinstance(config.get(field), int):
                raise ValueError(f"config.json has no {field}; the memory estimate needs it")
        hidden = config["hidden_size"]
        heads = config.get("num_attention_heads") or 1
        head_dim = config.get("head_dim") or hidden // heads
        kv_heads = config.get("num_key_value_heads") or heads
        return cls(
            hidden=hidden,
            kv_dim=kv_heads * head_dim,
            intermediate=config.get("intermediate_size") or 4 * hidden,
            layers=config["num_hidden_layers"],
            vocab=config["vocab_size"],
            tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        )

    @property
    def linear_parameters(self) -> int:
        h, k, m = self.hidden, self.kv_dim, self.intermediate
        return self.layers * (2 * h * h + 2 * h * k + 3 * h * m)

    @property
    def embedding_parameters(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def norm_parameters(self) -> int:
        return (2 * self.layers + 1) * self.hidden

    @property
    def parameters(self) -> int:
        return self.linear_parameters + self.embedding_parameters + self.norm_parameters

    def lora_parameters(self, rank: int) -> int:
        h, k, m = self.hidden, self.kv_dim, self.intermediate
        return self.layers * rank * ((h + h) * 2 + (h + k) * 2 + (h + m) * 2 + (m + h))


@dataclass(frozen=True)
class MemoryEstimate:
    """The parts, in bytes; `total` is what the device must hold."""

    weights: float
    trainable: float
    activations: float
    logits: float
    overhead: float

    @property
    def total(self) -> float:
        return self.weights + self.trainable + self.activations + self.logits + self.overhead

    def as_gib(self) -> dict[str, float]:
        """{"weights": ..., "trainable": ..., "activations": ..., "logits": ..., "overhead": ..., "total": ...} in GiB,
        2 decimals."""
        parts = {"weights": self.weights, "trainable": self.trainable, "activations": self.activations,
                 "logits": self.logits, "overhead": self.overhead, "total": self.total}
        return {name: round(value / GIB, 2) for name, value in parts.items()}


def memory_estimate(
    *,
    shape: ModelShape,
    method: str = "sft",
    adapter: str = "lora",
    lora_r: int = 16,
    batch_size: int = 1,
    sequence_length: int = 1024,
    gradient_checkpointing: bool = True,
    chunked_logits: bool = True,
    pure_bf16: bool = True,
    optimizer_bytes_per_parameter: float | None = None,
    runtime_context_gib: float = RUNTIME_CONTEXT_GIB,
    fragmentation_factor: float = FRAGMENTATION_FACTOR,
    completion_length: int = 0,
    generation_batch: int = 0,
    kl_reference: bool = True,
) -> MemoryEstimate:
    """Peak memory of one device training `shape` with the given method and adapter.

    `pure_bf16` matters for full fine-tuning only: True keeps weights, gradients and Adam states in bf16 (what the
    runner does on a bf16 GPU), False is mixed precision (fp32 master weights, P·6 + P·12).
    `optimizer_bytes_per_parameter` replaces Adam's 8 (or 4) bytes, e.g. 2 for 8-bit Adam. `chunked_logits` is TRL
    1.16's default loss, which never materialises the full logits tensor. Raises ValueError for an unknown method or
    adapter. GRPO: `completion_length` tokens generated per completion, `generation_batch` completions generated at
    once, `kl_reference` whether a reference model is kept (β > 0).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    if adapter not in ADAPTERS:
        raise ValueError(f"unknown adapter {adapter!r}; known: {', '.join(ADAPTERS)}")
    p = shape.parameters
    h, m = shape.hidden, shape.intermediate
    if method == "grpo":
        sequence_length += completion_length
    tokens = batch_size * sequence_length * (2 if method in PREFERENCE_METHODS else 1)

    if adapter == "full":
        weights = p * (2 if pure_bf16 else 6)
        gradient_bytes, adam_bytes = (2, 4) if pure_bf16 else (4, 8)
        trainable = p * (
            gradient_bytes
            + (optimizer_bytes_per_parameter if optimizer_bytes_per_parameter is not None else adam_bytes)
        )
    else:
        if adapter == "qlora":
            weights = (
                shape.linear_parameters * NF4_BITS_PER_PARAMETER / 8
                + (shape.embedding_parameters + shape.norm_parameters) * 2
            )
        else:
            weights = p * 2
        # fp32 weights, gradients and two Adam moments: 16 bytes per trainable parameter.
        trainable_count = (
            PROMPT_TUNING_VIRTUAL_TOKENS * h if adapter == "prompt_tuning" else shape.lora_parameters(lora_r)
        )
        trainable = trainable_count * 16
    if adapter == "full" and (method in PREFERENCE_METHODS or (method == "grpo" and kl_reference)):
        # Without an adapter to switch off, the reference model is a second copy of the weights.
        weights += p * 2

    if gradient_checkpointing:
        activations = shape.layers * tokens * h * 2 + tokens * (12 * h + 8 * m)
    else:
        activations = shape.layers * tokens * (12 * h + 8 * m)
    if method == "grpo":
        # The generations' KV cache: keys and values of every layer for every token, in bf16.
        activations += 2 * shape.layers * shape.kv_dim * max(generation_batch, batch_size) * sequence_length * 2
    logits = 0 if chunked_logits else tokens * shape.vocab * 10

    subtotal = weights + trainable + activations + logits + runtime_context_gib * GIB
    overhead = runtime_context_gib * GIB + subtotal * (fragmentation_factor - 1)
    return MemoryEstimate(weights=float(weights), trainable=float(trainable), activations=float(activations),
                          logits=float(logits), overhead=float(overhead))
