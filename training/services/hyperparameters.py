"""The hyperparameters a run accepts: type, default, allowed range and the range usually recommended.

Declared once, on the runner's config dataclass (training.runner.config.RunConfig, in each field's metadata); this
module reads them from there, translated, for the service (validation), the API (its schema), the HTML form (the
hints beside each field) and the `train` command (--set).
"""

from dataclasses import Field, dataclass

from django.utils.translation import gettext_lazy as _

from common.errors import ApplicationError
from training.models import BaseModel
from training.runner.config import TEXT_LIMIT, hyperparameter_fields


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    kind: type  # int, float, bool or str (one of `choices`, or free text when there are none)
    default: float | int | bool | str
    minimum: float | int | None  # None for a bool or a text
    maximum: float | int | None
    label: str
    recommended: str = ""
    help: str = ""
    choices: tuple[str, ...] = ()

    @classmethod
    def of_field(cls, spec: Field) -> "Hyperparameter":
        """A RunConfig field as the platform shows it: its texts translated when they are read."""
        meta = spec.metadata
        return cls(
            name=spec.name,
            kind=spec.type,
            default=spec.default,
            minimum=meta["minimum"],
            maximum=meta["maximum"],
            label=_(meta["label"]),
            recommended=_(meta["recommended"]) if meta["recommended"] else "",
            help=_(meta["help"]) if meta["help"] else "",
            choices=tuple(meta.get("choices") or ()),
        )


HYPERPARAMETERS: list[Hyperparameter] = [Hyperparameter.of_field(spec) for spec in hyperparameter_fields()]
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
    if spec.kind is str and not spec.choices:
        if not isinstance(value, str) or len(value) > TEXT_LIMIT:
            raise ApplicationError(f"{spec.name} must be a text of at most {TEXT_LIMIT} characters", where=where)
        return value.strip()
    if spec.kind is str:
        if value not in spec.choices:
            raise ApplicationError(f"{spec.name} must be one of {', '.join(spec.choices)}, not {value!r}", where=where)
        return value
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
        raise ApplicationError(
            f"{spec.name} must be between {spec.minimum:g} and {spec.maximum:g}, not {value:g}", where=where
        )
    return value


def hyperparameters_clean(*, values: dict, base_model: BaseModel | None = None) -> dict:
    """Every hyperparameter with its value: the ones given, checked; the others, their defaults.

    An unknown name, a value of the wrong type or outside its range raises ApplicationError naming the field.
    """
    if not isinstance(values, dict):
        raise ApplicationError("hyperparameters must be an object", where="hyperparameters")
    unknown = sorted(set(values) - set(BY_NAME))
    if unknown:
        raise ApplicationError(
            f"unknown hyperparameter {unknown[0]!r}; known: {', '.join(BY_NAME)}", where=f"hyperparameters.{unknown[0]}"
        )
    clean = hyperparameter_defaults(base_model=base_model)
    for name, value in values.items():
        if value is not None:
            clean[name] = _number(BY_NAME[name], value)
    context = (base_model.config or {}).get("max_position_embeddings") if base_model is not None else None
    if isinstance(context, int) and clean["max_length"] > context:
        raise ApplicationError(
            f"max_length {clean['max_length']} is longer than the {context} tokens base model {base_model.name!r} was "
            "built for",
            where="hyperparameters.max_length",
        )
    if clean["max_steps"] == 0:
        raise ApplicationError("max_steps must be positive, or -1 to run all epochs", where="hyperparameters.max_steps")
    return clean
