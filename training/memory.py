"""How much memory one training device needs for a run, before it starts (docs/reference.md §2).
Pure arithmetic, Django-free.

Per device, in bytes; H hidden, K = kv_heads·head_dim, M intermediate, L layers, V vocab, r LoRA rank,
T = tokens per micro-batch (batch × max length; packing fills every row to max length, so the same):

    P_lin = L·(2H² + 2H·K + 3H·M);  P_emb = V·H·(1 if tied else 2);  P_norm ≈ (2L+1)·H
    P_lora = L·r·[(H+H)·2 + (H+K)·2 + (H+M)·2 + (M+H)]              (all linear layers; attention only: the first two
             terms; named modules: the terms of the names among q/k/v/o/gate/up/down_proj, all of them if none is)
             DoRA adds a magnitude per output feature, and rebuilds one adapted weight at a time (in·out·4 bytes, ×2)
    prompt tuning N·H; P-tuning N·H + 3H² + 3H (peft's MLP encoder, as wide as the model);
    prefix tuning (P-tuning v2) N·L·2K, with N virtual tokens; prompt and P-tuning make each sequence N tokens longer
    full, freezing all but the last n layers or named modules: trainable = n·(P_lin/L + 2H) + the named modules
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
ADAPTERS = ("full", "lora", "qlora", "prompt_tuning", "prefix_tuning", "p_tuning")
# Each decoder layer's linear modules as Llama, Qwen, Mistral and Gemma name them, by their place in the layer.
ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")
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

    def linear_modules(self) -> dict[str, tuple[int, int]]:
        """Each decoder layer's linear modules: name → (in features, out features)."""
        h, k, m = self.hidden, self.kv_dim, self.intermediate
        return {"q_proj": (h, h), "k_proj": (h, k), "v_proj": (h, k), "o_proj": (h, h),
                "gate_proj": (h, m), "up_proj": (h, m), "down_proj": (m, h)}

    def lora_modules(self, targets: str = "all-linear") -> list[str]:
        """The per-layer modules LoRA adapts for `targets` ("all-linear", "attention" or comma-separated names, matched
        by their last dotted part); names outside the usual seven count as all of them, to stay on the safe side."""
        if targets == "attention":
            return list(ATTENTION_MODULES)
        named = [name.strip().rsplit(".", 1)[-1] for name in targets.split(",")] if targets != "all-linear" else []
        known = [name for name in self.linear_modules() if name in named]
        return known or list(self.linear_modules())

    def lora_parameters(self, rank: int, targets: str = "all-linear") -> int:
        modules = self.linear_modules()
        return self.layers * rank * sum(sum(modules[name]) for name in self.lora_modules(targets))

    def dora_magnitudes(self, targets: str = "all-linear") -> int:
        modules = self.linear_modules()
        return self.layers * sum(modules[name][1] for name in self.lora_modules(targets))

    def named_module_parameters(self, names: str) -> int:
        """Parameters of the modules named (comma-separated, matched by their last dotted part): the embeddings, the
        output head, the final norm, and per layer self_attn, mlp, their projections and the two layer norms."""
        modules = self.linear_modules()
        per_layer = {name: i * o for name, (i, o) in modules.items()}
        per_layer |= {"self_attn": sum(per_layer[name] for name in ATTENTION_MODULES),
                      "mlp": sum(per_layer[name] for name in MLP_MODULES),
                      "input_layernorm": self.hidden, "post_attention_layernorm": self.hidden}
        whole = {"embed_tokens": self.vocab * self.hidden, "norm": self.hidden,
                 "lm_head": 0 if self.tied_embeddings else self.vocab * self.hidden}
        total = 0
        for name in {name.strip().rsplit(".", 1)[-1] for name in names.split(",") if name.strip()}:
            total += per_layer.get(name, 0) * self.layers + whole.get(name, 0)
        return total


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
    lora_targets: str = "all-linear",
    use_dora: bool = False,
    virtual_tokens: int = PROMPT_TUNING_VIRTUAL_TOKENS,
    trainable_layers: int = 0,
    trainable_modules: str = "",
) -> MemoryEstimate:
    """Peak memory of one device training `shape` with the given method and adapter.

    `pure_bf16` matters for full fine-tuning only: True keeps weights, gradients and Adam states in bf16 (what the
    runner does on a bf16 GPU), False is mixed precision (fp32 master weights, P·6 + P·12).
    `optimizer_bytes_per_parameter` replaces Adam's 8 (or 4) bytes, e.g. 2 for 8-bit Adam. `chunked_logits` is TRL
    1.16's default loss, which never materialises the full logits tensor. Raises ValueError for an unknown method or
    adapter. GRPO: `completion_length` tokens generated per completion, `generation_batch` completions generated at
    once, `kl_reference` whether a reference model is kept (β > 0). LoRA: `lora_targets` and `use_dora`; prompt
    tuning, prefix tuning and P-tuning: `virtual_tokens`; full training: `trainable_layers` and `trainable_modules`
    (both empty: every weight).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    if adapter not in ADAPTERS:
        raise ValueError(f"unknown adapter {adapter!r}; known: {', '.join(ADAPTERS)}")
    p = shape.parameters
    h, m = shape.hidden, shape.intermediate
    if method == "grpo":
        sequence_length += completion_length
    if adapter in ("prompt_tuning", "p_tuning"):
        sequence_length += virtual_tokens
    tokens = batch_size * sequence_length * (2 if method in PREFERENCE_METHODS else 1)

    if adapter == "full":
        weights = p * (2 if pure_bf16 else 6)
        gradient_bytes, adam_bytes = (2, 4) if pure_bf16 else (4, 8)
        trained = p
        if trainable_layers > 0 or trainable_modules.strip():
            per_layer = shape.linear_parameters // shape.layers + 2 * h
            trained = min(p, min(trainable_layers, shape.layers) * per_layer
                          + shape.named_module_parameters(trainable_modules))
        trainable = trained * (
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
        trainable_count = {
            "prompt_tuning": virtual_tokens * h,
            "p_tuning": virtual_tokens * h + 3 * h * h + 3 * h,
            "prefix_tuning": virtual_tokens * shape.layers * 2 * shape.kv_dim,
        }.get(adapter)
        if trainable_count is None:
            trainable_count = shape.lora_parameters(lora_r, lora_targets)
            if use_dora:
                trainable_count += shape.dora_magnitudes(lora_targets)
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
    if adapter == "prefix_tuning":
        # The learned keys and values, handed to every layer as its KV cache, in each sequence of the batch.
        activations += 2 * shape.layers * shape.kv_dim * virtual_tokens * batch_size * 2
    if adapter in ("lora", "qlora") and use_dora:
        # DoRA rebuilds each adapted weight (W + scaled BA, fp32) to take its norm, one module at a time.
        modules = shape.linear_modules()
        activations += max(modules[name][0] * modules[name][1] for name in shape.lora_modules(lora_targets)) * 4 * 2
    logits = 0 if chunked_logits else tokens * shape.vocab * 10

    subtotal = weights + trainable + activations + logits + runtime_context_gib * GIB
    overhead = runtime_context_gib * GIB + subtotal * (fragmentation_factor - 1)
    return MemoryEstimate(weights=float(weights), trainable=float(trainable), activations=float(activations),
                          logits=float(logits), overhead=float(overhead))
