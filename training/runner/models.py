"""The model to train, as the adapter choice wants it: config → (model, tokenizer, peft_config) for a TRL trainer.

lora           the base in bf16 (GPU) or fp32 (CPU); LoRA on the linear layers lora_target_modules names (all of them
               by default), optionally DoRA and rsLoRA
qlora          the base quantized to 4-bit NF4 by bitsandbytes (double quantization); LoRA on top, computing in
               bf16 on a GPU, fp32 on a CPU (bitsandbytes 0.50 runs 4-bit layers on a CPU too)
prompt_tuning  the base frozen; `prompt_tuning_virtual_tokens` learned embeddings before the input
prefix_tuning  P-tuning v2: the base frozen; learned keys and values for `prompt_tuning_virtual_tokens` positions in
               every layer, handed to the model as its KV cache (peft builds a transformers DynamicCache)
p_tuning       the base frozen; virtual tokens produced by a small trained MLP (peft's PromptEncoder)
full           every weight trained, or only the last `trainable_layers` layers and the `trainable_modules`; no
               peft_config
"""

from training.runner.config import ADAPTERS, LORA_ADAPTERS, RunConfig, names_list

LORA_TARGET_PRESETS = ("all-linear", "attention")


def device_precision() -> tuple[bool, bool]:
    """(on a GPU, bf16 supported there)."""
    import torch

    on_gpu = torch.cuda.is_available()
    return on_gpu, on_gpu and torch.cuda.is_bf16_supported()


def _is_attention(qualified_name: str) -> bool:
    return any(part in ("attn", "attention", "self_attn", "self_attention") for part in qualified_name.split("."))


def lora_targets(model, choice: str) -> str | list[str]:
    """peft's target_modules for `choice`: "all-linear" as it is; "attention" → the names of the linear layers inside
    each layer's attention block; otherwise comma-separated names, each of which must name a module of `model`.

    Raises ValueError naming the unknown names and the linear layers the model has.
    """
    import torch

    if choice == "all-linear":
        return "all-linear"
    linear = {name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    if choice == "attention":
        targets = sorted({name.rsplit(".", 1)[-1] for name in linear if _is_attention(name.rsplit(".", 1)[0])})
        if not targets:
            raise ValueError("lora_target_modules: the model has no linear layer inside an attention block")
        return targets
    names = names_list(choice)
    if not names:
        raise ValueError("lora_target_modules: name all-linear, attention or at least one module")
    known = {part for name, _module in model.named_modules() for part in _suffixes(name)}
    unknown = [name for name in names if name not in known]
    if unknown:
        available = sorted({name.rsplit(".", 1)[-1] for name in linear})
        raise ValueError(f"lora_target_modules: the model has no module named {', '.join(unknown)}; its linear layers "
                         f"are {', '.join(available)}")
    return names


def _suffixes(qualified_name: str) -> list[str]:
    """"model.layers.0.mlp.up_proj" → ["up_proj", "mlp.up_proj", "0.mlp.up_proj", ...]: the names peft matches."""
    parts = qualified_name.split(".") if qualified_name else []
    return [".".join(parts[index:]) for index in range(len(parts))]


def _decoder_layers(model):
    """The ModuleList holding the model's decoder layers (the one as long as config.num_hidden_layers)."""
    import torch

    count = getattr(model.config, "num_hidden_layers", None)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return name
    raise ValueError("trainable_layers: the model's decoder layers were not found")


def layers_freeze(model, *, trainable_layers: int, trainable_modules: str) -> int:
    """Full training of part of the model: freeze every weight but those in the last `trainable_layers` decoder layers
    and in the modules `trainable_modules` names (a name matches a module whose dotted path ends with it). Nothing is
    frozen when both are empty. Returns the number of trainable parameters.

    Raises ValueError for more layers than the model has, or naming the modules the model does not have.
    """
    names = names_list(trainable_modules)
    if trainable_layers <= 0 and not names:
        return sum(parameter.numel() for parameter in model.parameters())
    prefixes = []
    if trainable_layers > 0:
        layers_name = _decoder_layers(model)
        count = model.config.num_hidden_layers
        if trainable_layers > count:
            raise ValueError(f"trainable_layers: {trainable_layers} asked, the model has {count} layers")
        prefixes += [f"{layers_name}.{index}." for index in range(count - trainable_layers, count)]
    modules = [name for name, _module in model.named_modules() if name]
    unknown = [name for name in names if not any(name in _suffixes(module) for module in modules)]
    if unknown:
        top_level = sorted({module.rsplit(".", 1)[-1] for module in modules if not module.split(".")[-1].isdigit()})
        raise ValueError(f"trainable_modules: the model has no module named {', '.join(unknown)}; its modules are "
                         f"named {', '.join(top_level)}")
    for module in modules:
        if any(name in _suffixes(module) for name in names):
            prefixes.append(module + ".")
    trainable = 0
    for name, parameter in model.named_parameters():
        parameter.requires_grad = any(name.startswith(prefix) for prefix in prefixes)
        trainable += parameter.numel() if parameter.requires_grad else 0
    # With the embeddings frozen, gradient checkpointing would see inputs that need no gradient and drop the backward.
    model.enable_input_require_grads()
    return trainable


def model_prepare(config: RunConfig):
    """(model, tokenizer, peft_config or None). Raises ValueError for an unknown adapter, LoRA targets or frozen
    modules the model does not have."""
    import torch
    from peft import (
        LoraConfig,
        PrefixTuningConfig,
        PromptEncoderConfig,
        PromptEncoderReparameterizationType,
        PromptTuningConfig,
        PromptTuningInit,
    )
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    if config.adapter not in ADAPTERS:
        raise ValueError(f"adapter {config.adapter!r} is not supported; use one of {', '.join(ADAPTERS)}")
    on_gpu, bf16 = device_precision()
    dtype = torch.bfloat16 if bf16 else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(config.base_model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if config.adapter == "qlora":
        quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
                                          bnb_4bit_use_double_quant=True)
        model = AutoModelForCausalLM.from_pretrained(
            config.base_model_path,
            quantization_config=quantization,
            dtype=dtype,
            device_map={"": 0} if on_gpu else {"": "cpu"},
        )
    else:
        model = AutoModelForCausalLM.from_pretrained(config.base_model_path, dtype=dtype)

    tokens = config.prompt_tuning_virtual_tokens
    if config.adapter in LORA_ADAPTERS:
        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                                 target_modules=lora_targets(model, config.lora_target_modules),
                                 use_dora=config.use_dora, use_rslora=config.use_rslora, task_type="CAUSAL_LM")
    elif config.adapter == "prompt_tuning":
        peft_config = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=tokens,
                                         prompt_tuning_init=PromptTuningInit.RANDOM)
    elif config.adapter == "prefix_tuning":
        # Without the reparameterising MLP (peft's default): the keys and values themselves are learned.
        peft_config = PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=tokens, prefix_projection=False)
    elif config.adapter == "p_tuning":
        peft_config = PromptEncoderConfig(task_type="CAUSAL_LM", num_virtual_tokens=tokens,
                                          encoder_reparameterization_type=PromptEncoderReparameterizationType.MLP,
                                          encoder_hidden_size=model.config.hidden_size)
    else:
        peft_config = None
        layers_freeze(model, trainable_layers=config.trainable_layers, trainable_modules=config.trainable_modules)
    return model, tokenizer, peft_config
