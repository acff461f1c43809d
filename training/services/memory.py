"""The memory a run will need on its training device, and whether that device has it (docs/reference.md §2).

The arithmetic is training.memory (pure); this module reads the base model's shape and the run's settings, and
the device's size: the first CUDA device when this process sees one, else settings.TRAINING_DEVICE_MEMORY_GB
(the web process usually has no GPU, so the setting describes the gpu workers' devices).
"""

from dataclasses import dataclass

from django.conf import settings

from common.errors import ApplicationError
from training.memory import GIB, MemoryEstimate, ModelShape, memory_estimate
from training.models import BaseModel


@dataclass(frozen=True)
class MemoryCheck:
    estimate: MemoryEstimate
    device_gib: float
    device_source: str  # "cuda" or "setting"

    @property
    def fits(self) -> bool:
        return self.estimate.total <= self.device_gib * GIB

    def as_dict(self) -> dict:
        """What a run stores and the API returns: the parts in GiB, the device's size and whether it fits."""
        return {
            "parts": self.estimate.as_gib(),
            "device_gib": round(self.device_gib, 2),
            "device_source": self.device_source,
            "fits": self.fits,
        }


def training_device_memory_gib() -> tuple[float, str]:
    """(GiB, where the number came from) of the device a run trains on."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_properties(0).total_memory / GIB, "cuda"
    except ImportError:
        pass
    return float(settings.TRAINING_DEVICE_MEMORY_GB), "setting"


def training_memory_check(*, base_model: BaseModel, method: str, adapter: str, hyperparameters: dict) -> MemoryCheck:
    """Estimate a run of `base_model` with these settings. Precondition: `hyperparameters` went through
    hyperparameters_clean (every value present and in range).

    Raises ApplicationError (where="base_model") when the model's config lacks a size the estimate needs.
    """
    try:
        shape = ModelShape.from_config(base_model.config or {})
    except ValueError as error:
        raise ApplicationError(f"base model {base_model.name!r}: {error}", where="base_model") from error
    # As the runner trains on a GPU: bf16 weights, gradient checkpointing, TRL's chunked loss.
    estimate = memory_estimate(shape=shape, method=method, adapter=adapter, lora_r=hyperparameters["lora_r"],
                               batch_size=hyperparameters["per_device_train_batch_size"],
                               sequence_length=hyperparameters["max_length"], gradient_checkpointing=True,
                               chunked_logits=True, pure_bf16=True,
                               completion_length=hyperparameters["max_completion_length"],
                               generation_batch=(hyperparameters["per_device_train_batch_size"]
                                                 * hyperparameters["gradient_accumulation_steps"]),
                               kl_reference=hyperparameters["kl_beta"] > 0,
                               lora_targets=hyperparameters["lora_target_modules"],
                               use_dora=hyperparameters["use_dora"],
                               virtual_tokens=hyperparameters["prompt_tuning_virtual_tokens"],
                               trainable_layers=hyperparameters["trainable_layers"],
                               trainable_modules=hyperparameters["trainable_modules"])
    device_gib, source = training_device_memory_gib()
    return MemoryCheck(estimate=estimate, device_gib=device_gib, device_source=source)
