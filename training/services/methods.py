"""What each adapter and freezing setting needs, checked before launch: which methods an adapter trains, which
settings belong to which adapter, and the module names a run names, against the base model's own (its architecture
built on the meta device: no weights are loaded)."""

from common.errors import ApplicationError
from training.models import BaseModel, TrainingRun
from training.runner.config import LORA_ADAPTERS, names_list

# peft's prefix tuning and P-tuning through TRL's SFTTrainer are what the runner's tests train; the preference and
# GRPO trainers' reference passes switch adapters off, which these do not support.
SFT_ONLY_ADAPTERS = (TrainingRun.Adapter.PREFIX_TUNING, TrainingRun.Adapter.P_TUNING)


def _meta_model(base_model: BaseModel):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from training.services.base_models import base_model_directory

    config = AutoConfig.from_pretrained(base_model_directory(base_model))
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def adapter_settings_check(*, base_model: BaseModel, method: str, adapter: str, hyperparameters: dict) -> None:
    """Raises ApplicationError naming the field when `adapter` cannot train `method`, when full training's freezing
    is set for an adapter, or when a named module (LoRA targets, trainable modules) is not one of the base model's.

    Precondition: `hyperparameters` went through hyperparameters_clean.
    """
    from training.runner.models import layers_freeze, lora_targets

    if adapter in SFT_ONLY_ADAPTERS and method != TrainingRun.Method.SFT:
        raise ApplicationError(
            f"{TrainingRun.Adapter(adapter).label} trains SFT runs only; use LoRA for {method.upper()}", where="adapter"
        )
    freezing = hyperparameters["trainable_layers"] > 0 or bool(names_list(hyperparameters["trainable_modules"]))
    if freezing and adapter != TrainingRun.Adapter.FULL:
        field = "trainable_layers" if hyperparameters["trainable_layers"] > 0 else "trainable_modules"
        raise ApplicationError(f"{field} chooses what full training trains; an adapter trains only itself",
                               where=f"hyperparameters.{field}")
    custom_targets = adapter in LORA_ADAPTERS and hyperparameters["lora_target_modules"] != "all-linear"
    if not (custom_targets or freezing):
        return
    model = _meta_model(base_model)
    try:
        if custom_targets:
            lora_targets(model, hyperparameters["lora_target_modules"])
        if freezing:
            layers_freeze(model, trainable_layers=hyperparameters["trainable_layers"],
                          trainable_modules=hyperparameters["trainable_modules"])
    except ValueError as error:
        field = str(error).split(":", 1)[0]
        raise ApplicationError(f"base model {base_model.name!r}: {error}", where=f"hyperparameters.{field}") from error
