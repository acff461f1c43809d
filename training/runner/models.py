"""The model to train, as the adapter choice wants it: config → (model, tokenizer, peft_config) for a TRL trainer.

lora           the base in bf16 (GPU) or fp32 (CPU); LoRA on every linear layer
qlora          the base quantized to 4-bit NF4 by bitsandbytes (double quantization); LoRA on top, computing in
               bf16 on a GPU, fp32 on a CPU (bitsandbytes 0.50 runs 4-bit layers on a CPU too)
prompt_tuning  the base frozen; `prompt_tuning_virtual_tokens` learned embeddings before the input
full           every weight trained; no peft_config
"""

from training.runner.config import RunConfig

ADAPTERS = ("lora", "qlora", "prompt_tuning", "full")


def device_precision() -> tuple[bool, bool]:
    """(on a GPU, bf16 supported there)."""
    import torch

    on_gpu = torch.cuda.is_available()
    return on_gpu, on_gpu and torch.cuda.is_bf16_supported()


def model_prepare(config: RunConfig):
    """(model, tokenizer, peft_config or None). Raises ValueError for an unknown adapter."""
    import torch
    from peft import LoraConfig, PromptTuningConfig, PromptTuningInit
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

    if config.adapter in ("lora", "qlora"):
        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    elif config.adapter == "prompt_tuning":
        peft_config = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=config.prompt_tuning_virtual_tokens,
                                         prompt_tuning_init=PromptTuningInit.RANDOM)
    else:
        peft_config = None
    return model, tokenizer, peft_config
