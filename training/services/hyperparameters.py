"""The hyperparameters a run accepts: type, default, allowed range and the range usually recommended.

One table, read by the service (validation), the API (documentation) and the HTML form (the hints beside each field).
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from common.errors import ApplicationError
from training.models import BaseModel


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    kind: type  # int, float or bool
    default: float | int | bool
    minimum: float | int | bool
    maximum: float | int | bool
    label: str
    recommended: str = ""
    help: str = ""


HYPERPARAMETERS: list[Hyperparameter] = [
    Hyperparameter("learning_rate", float, 1e-4, 1e-7, 1e-2, _("Learning rate"), _("5e-5 – 1e-4 for LoRA"),
                   _("Peak learning rate of the linear schedule.")),
    Hyperparameter("num_train_epochs", float, 3.0, 0.01, 100.0, _("Epochs"), _("3 – 10"),
                   _("Passes over the training split; ignored when max steps is set.")),
    Hyperparameter("max_steps", int, -1, -1, 1_000_000, _("Max steps"), _("-1 = run all epochs"),
                   _("Stop after this many optimizer steps.")),
    Hyperparameter("per_device_train_batch_size", int, 4, 1, 512, _("Batch size per device"), _("1 – 8 on one GPU"),
                   _("Conversations per forward pass.")),
    Hyperparameter("gradient_accumulation_steps", int, 4, 1, 1024, _("Gradient accumulation"), _("2 – 8"),
                   _("Forward passes per optimizer step.")),
    Hyperparameter("lora_r", int, 16, 1, 1024, _("LoRA rank"), _("8 – 64"), _("Capacity of the adapter.")),
    Hyperparameter("lora_alpha", int, 32, 1, 4096, _("LoRA alpha"), _("1 – 2 × rank"), _("Scaling of the adapter's update.")),
    Hyperparameter("max_length", int, 1024, 16, 131_072, _("Max length (tokens)"), _("longest conversations you care about"),
                   _("Longer conversations are cut.")),
    Hyperparameter("logging_steps", int, 5, 1, 100_000, _("Logging steps"), _("1 – 50"),
                   _("A point on the loss chart every this many steps.")),
    Hyperparameter("eval_steps", int, 50, 1, 100_000, _("Evaluation steps"), _("10 – 500"),
                   _("Validation loss every this many steps, when the version has a validation split.")),
    Hyperparameter("save_steps", int, 0, 0, 1_000_000, _("Checkpoint every (steps)"), _("0 = only when cancelled"),
                   _("A resumable checkpoint every this many steps, so a run whose worker dies can continue.")),
    Hyperparameter("seed", int, 42, 0, 2**31 - 1, _("Seed"), "", _("Same seed, same data, same run.")),
    Hyperparameter("beta", float, 0.1, 0.001, 10.0, _("Beta (DPO, KTO)"), _("0.1 – 0.5"),
                   _("How far the tuned model may move from the base; higher keeps it closer.")),
    Hyperparameter("padding_free", bool, True, False, True, _("Batches without padding (SFT)"), _("on"),
                   _("Lays each batch's conversations out without padding, each with its own positions: the same steps "
                     "and loss as padded batches, without computing the padding.")),
    Hyperparameter("packing", bool, False, False, True, _("Pack conversations (SFT)"), _("on for many short conversations"),
                   _("Fills each row up to max length with several conversations instead of padding: faster, same loss.")),
    Hyperparameter("assistant_only_loss", bool, True, False, True, _("Learn the assistant's replies only (SFT)"),
                   _("on for chat models"),
                   _("System and user turns and the template's own text are read but not learned; off learns every token.")),
    Hyperparameter("keep_system_prompt", bool, True, False, True, _("Keep the system prompt"), _("on"),
                   _("For a chat template that drops the system prompt from the trained text (Mistral v0.3): put it into "
                     "the last user turn, as the template does when the model answers.")),
    Hyperparameter("keep_reasoning", bool, True, False, True, _("Keep the reasoning"), _("on"),
                   _("Train the final reply with its reasoning; for a chat template that deletes it (DeepSeek-R1-Distill), "
                     "train with a copy of the template that keeps it.")),
]
BY_NAME = {h.name: h for h in HYPERPARAMETERS}


def hyperparameter_defaults(*, base_model: BaseModel | None = None) -> dict:
    """Defaults, with max_length capped at the base model's context when it is known."""
    defaults = {h.name: h.default for h in HYPERPARAMETERS}
    context = (base_model.config or {}).get("max_position_embeddings") if base_model is not None else None
    if isinstance(context, int) and context > 0:
        defaults["max_length"] = min(defaults["max_length"], context)
    return defaults


def _number(spec: Hyperparameter, value):
    where = f"hyperparameters.{spec.name}"
    if spec.kind is bool:
        if not isinstance(value, bool):
            raise ApplicationError(f"{spec.name} must be true or false, not {value!r}", where=where)
        return value
    # bool is an int in Python; true is not a batch size.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApplicationError(f"{spec.name} must be a number, not {value!r}", where=where)
    if spec.kind is int:
        if value != int(value):
            raise ApplicationError(f"{spec.name} must be a whole number, not {value!r}", where=where)
        value = int(value)
    else:
        value = float(value)
    if not spec.minimum <= value <= spec.maximum:
        raise ApplicationError(f"{spec.name} must be between {spec.minimum:g} and {spec.maximum:g}, not {value:g}", where=where)
    return value


def hyperparameters_clean(*, values: dict, base_model: BaseModel | None = None) -> dict:
    """Every hyperparameter with its value: the ones given, checked; the others, their defaults.

    An unknown name, a value of the wrong type or outside its range raises ApplicationError naming the field.
    """
    if not isinstance(values, dict):
        raise ApplicationError("hyperparameters must be an object", where="hyperparameters")
    unknown = sorted(set(values) - set(BY_NAME))
    if unknown:
        raise ApplicationError(f"unknown hyperparameter {unknown[0]!r}; known: {', '.join(BY_NAME)}", where=f"hyperparameters.{unknown[0]}")
    clean = hyperparameter_defaults(base_model=base_model)
    for name, value in values.items():
        if value is not None:
            clean[name] = _number(BY_NAME[name], value)
    context = (base_model.config or {}).get("max_position_embeddings") if base_model is not None else None
    if isinstance(context, int) and clean["max_length"] > context:
        raise ApplicationError(
            f"max_length {clean['max_length']} is longer than the {context} tokens base model {base_model.name!r} was built for",
            where="hyperparameters.max_length")
    if clean["max_steps"] == 0:
        raise ApplicationError("max_steps must be positive, or -1 to run all epochs", where="hyperparameters.max_steps")
    return clean
