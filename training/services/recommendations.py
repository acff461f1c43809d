"""Settings recommended from the data and the model, each with its reason, and warnings: the one place that holds the
brief's tables (records per goal, learning rates, ranks, epochs, accumulation).

The facts come from the dataset version (records per split, token lengths as the base model's chat template writes
them: training.selectors.version_token_lengths, whether the replies carry reasoning) and from the base model
(parameters, context length) and the training device's memory (training.services.memory).
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from datahub.models import DatasetVersion
from training.memory import GIB, ModelShape, memory_estimate
from training.models import BaseModel, TrainingRun
from training.selectors import TOKEN_BUCKETS, version_reasoning_share, version_token_lengths
from training.services.memory import training_device_memory_gib

GOALS = ("style", "knowledge", "reasoning")
# The brief's table: records a goal needs (fewest, usually enough).
RECORDS_FOR_GOAL = {"style": (500, 2_000), "knowledge": (3_000, 10_000), "reasoning": (5_000, 20_000)}
# LoRA rank per goal (alpha is twice the rank, once for the high ranks, where rsLoRA scales instead).
RANK_FOR_GOAL = {"style": 8, "knowledge": 16, "reasoning": 64}
LARGE_KNOWLEDGE_RANK, LARGE_KNOWLEDGE_RECORDS = 32, 10_000
LORA_LEARNING_RATE, LARGE_DATA_LEARNING_RATE, LARGE_DATA_RECORDS = 1e-4, 5e-5, 10_000
# Prefix tuning trains only keys and values for a few positions; it wants a far larger rate than LoRA.
PREFIX_LEARNING_RATE = 5e-3
PREFIX_VIRTUAL_TOKENS = 20
SMALL_DATA_RECORDS, SMALL_DATA_EPOCHS, EPOCHS = 1_000, 5, 3
# An optimizer step should see about this many conversations: fewer on small data, so an epoch still has steps.
EFFECTIVE_BATCH, SMALL_DATA_EFFECTIVE_BATCH = 16, 8
BATCH_SIZES = (8, 4, 2, 1)
MAX_ACCUMULATION = 8
# A rank this high on fewer records than this memorises them.
HIGH_RANK, HIGH_RANK_RECORDS = 32, 2_000
REASONING_SHARE = 0.5
CUT_SHARE_LIMIT = 0.05


@dataclass(frozen=True)
class Facts:
    """What the recommendation reads. `lengths` is version_token_lengths' result (p95, histogram, measured)."""

    records: int
    validation: int
    reasoning_share: float
    lengths: dict
    parameters: int
    context: int | None
    shape: ModelShape
    device_gib: float


def recommendation_facts(*, version: DatasetVersion, base_model: BaseModel) -> Facts:
    """Read the facts. Raises ApplicationError (where="base_model") when the model's config or tokenizer cannot be
    read."""
    from common.errors import ApplicationError

    try:
        shape = ModelShape.from_config(base_model.config or {})
    except ValueError as error:
        raise ApplicationError(f"base model {base_model.name!r}: {error}", where="base_model") from error
    context = (base_model.config or {}).get("max_position_embeddings")
    return Facts(records=version.counts.get("train", 0), validation=version.counts.get("validation", 0),
                 reasoning_share=version_reasoning_share(version=version),
                 lengths=version_token_lengths(version=version, base_model=base_model),
                 parameters=base_model.parameter_count or shape.parameters,
                 context=context if isinstance(context, int) and context > 0 else None, shape=shape,
                 device_gib=training_device_memory_gib()[0])


def _cut(lengths: dict, max_length: int) -> int:
    """Records longer than `max_length` (a TOKEN_BUCKETS edge), scaled up from the sample when one was measured."""
    if not lengths.get("measured"):
        return 0
    longer = sum(count for label, count in lengths["histogram"].items()
                 if _bucket_start(label) >= max_length)
    return round(longer * lengths["total"] / lengths["measured"])


def _bucket_start(label: str) -> int:
    """"128–255" → 128, "≥8192" → 8192."""
    return int(label.lstrip("≥").split("–")[0])


def _fits(facts: Facts, *, adapter: str, rank: int, batch: int, max_length: int) -> bool:
    estimate = memory_estimate(shape=facts.shape, adapter=adapter, lora_r=rank, batch_size=batch,
                               sequence_length=max_length, virtual_tokens=PREFIX_VIRTUAL_TOKENS)
    return estimate.total <= facts.device_gib * GIB


def _item(name: str, value, reason: str) -> dict:
    return {"name": name, "value": value, "reason": reason}


def training_recommend(*, facts: Facts, goal: str | None = None, chosen: dict | None = None) -> dict:
    """Recommended settings with reasons, and warnings, for `facts`; `goal` is the engineer's (style, knowledge or
    reasoning) or None to read it from the data; `chosen` holds settings already picked (lora_r, max_length), which
    are warned about too.

    Returns {"goal", "adapter", "hyperparameters" (ready to launch with), "items": [{"name", "value", "reason"}],
    "warnings": [text], "facts": {...}}.
    """
    chosen = chosen or {}
    records = facts.records
    items, warnings = [], []
    if goal is None:
        goal = "reasoning" if facts.reasoning_share >= REASONING_SHARE else "knowledge"
        goal_reason = (
            _("%(share)d%% of the records carry the assistant's reasoning")
            % {"share": round(facts.reasoning_share * 100)}
            if goal == "reasoning"
            else _("read from the data: the replies carry no reasoning; choose style if the data teaches a tone or "
                   "format rather than facts")
        )
    else:
        goal_reason = _("chosen by you")
    fewest, enough = RECORDS_FOR_GOAL[goal]
    goal_label = {"style": _("style"), "knowledge": _("knowledge"), "reasoning": _("complex reasoning")}[goal]
    items.append(_item("goal", goal, goal_reason))

    # Max length: the 95th percentile, rounded up to a bucket edge, within the model's context.
    p95 = facts.lengths.get("p95")
    max_length = next((edge for edge in TOKEN_BUCKETS if p95 is not None and edge >= p95), TOKEN_BUCKETS[-1])
    if p95 is None:
        max_length = 1024
    if facts.context:
        max_length = min(max_length, facts.context)
    cut = _cut(facts.lengths, max_length)
    length_reason = (
        _("95%% of records are at most %(p95)d tokens; %(cut)d of %(total)d are longer and will be cut")
        % {"p95": p95, "cut": cut, "total": facts.lengths.get("total", records)}
        if p95 is not None else _("no token lengths measured; the usual default")
    )
    if facts.context and max_length == facts.context:
        length_reason += " " + _("(the model's context is %(context)d tokens)") % {"context": facts.context}

    # Method and rank, by goal; QLoRA when LoRA does not fit the device even one conversation at a time.
    rank = RANK_FOR_GOAL[goal]
    if goal == "knowledge" and records >= LARGE_KNOWLEDGE_RECORDS:
        rank = LARGE_KNOWLEDGE_RANK
    if goal == "style":
        adapter = TrainingRun.Adapter.PREFIX_TUNING
        adapter_reason = _("%(records)d %(goal)s examples → P-tuning v2 (prefix tuning), or LoRA r=%(rank)d; the "
                           "brief recommends it for style") % {"records": records, "goal": goal_label, "rank": rank}
    else:
        adapter = TrainingRun.Adapter.LORA
        adapter_reason = _("%(records)d %(goal)s examples → LoRA r=%(rank)d on every linear layer") % {
            "records": records, "goal": goal_label, "rank": rank}
    if not _fits(facts, adapter=adapter, rank=rank, batch=1, max_length=max_length):
        adapter = TrainingRun.Adapter.QLORA
        adapter_reason = _("LoRA on this %(billions).1fB-parameter model does not fit %(gib).0f GiB; QLoRA keeps the "
                           "base in 4 bits") % {"billions": facts.parameters / 1e9, "gib": facts.device_gib}
        if not _fits(facts, adapter=adapter, rank=rank, batch=1, max_length=max_length):
            warnings.append(_("even QLoRA with one conversation per step does not fit %(gib).0f GiB at %(length)d "
                              "tokens: use a smaller model or a larger device") % {"gib": facts.device_gib,
                                                                                  "length": max_length})
    items.append(_item("adapter", adapter, adapter_reason))
    hyperparameters = {}
    if adapter == TrainingRun.Adapter.PREFIX_TUNING:
        hyperparameters["prompt_tuning_virtual_tokens"] = PREFIX_VIRTUAL_TOKENS
        learning_rate = PREFIX_LEARNING_RATE
        rate_reason = _("prefix tuning trains a few keys and values only and needs a far larger rate than LoRA")
    else:
        alpha = rank if rank >= HIGH_RANK else 2 * rank
        hyperparameters |= {"lora_r": rank, "lora_alpha": alpha}
        rank_reason = (_("high rank for complex reasoning; alpha = rank with rsLoRA, which scales by √rank")
                       if goal == "reasoning" else _("alpha twice the rank, as the brief advises (1–2 × rank)"))
        items.append(_item("lora_r", rank, rank_reason))
        items.append(_item("lora_alpha", alpha, rank_reason))
        if goal == "reasoning":
            hyperparameters["use_rslora"] = True
            items.append(_item("use_rslora", True, _("keeps a rank of 64 learning at the same rate")))
        learning_rate = LARGE_DATA_LEARNING_RATE if records >= LARGE_DATA_RECORDS else LORA_LEARNING_RATE
        rate_reason = (_("%(records)d records: the lower end of 5e-5 – 1e-4 for a steadier long run")
                       if records >= LARGE_DATA_RECORDS
                       else _("%(records)d records: the upper end of 5e-5 – 1e-4")) % {"records": records}
    items.append(_item("learning_rate", learning_rate, rate_reason))

    epochs = SMALL_DATA_EPOCHS if records < SMALL_DATA_RECORDS else EPOCHS
    epochs_reason = (_("few records: more passes, watched on the validation loss (the brief: 3–10)")
                     if epochs == SMALL_DATA_EPOCHS else _("%(epochs)d passes, the brief's lower end (3–10)")
                     % {"epochs": epochs})
    items.append(_item("num_train_epochs", float(epochs), epochs_reason))

    target = SMALL_DATA_EFFECTIVE_BATCH if records < SMALL_DATA_RECORDS else EFFECTIVE_BATCH
    batch = next((size for size in BATCH_SIZES
                  if _fits(facts, adapter=adapter, rank=rank, batch=size, max_length=max_length)), 1)
    batch = min(batch, target)
    accumulation = max(1, min(MAX_ACCUMULATION, target // batch))
    batch_reason = _("%(batch)d conversations of %(length)d tokens fit %(gib).0f GiB; accumulating %(steps)d makes "
                     "an effective batch of %(effective)d") % {"batch": batch, "length": max_length,
                                                                "gib": facts.device_gib, "steps": accumulation,
                                                                "effective": batch * accumulation}
    items.append(_item("per_device_train_batch_size", batch, batch_reason))
    items.append(_item("gradient_accumulation_steps", accumulation, batch_reason))
    items.append(_item("max_length", max_length, length_reason))
    hyperparameters |= {"learning_rate": learning_rate, "num_train_epochs": float(epochs),
                        "per_device_train_batch_size": batch, "gradient_accumulation_steps": accumulation,
                        "max_length": max_length}

    if records < fewest:
        warnings.append(_("%(records)d examples will not teach a model %(goal)s; the brief suggests %(fewest)s–"
                          "%(enough)s for %(goal)s") % {"records": records, "goal": goal_label,
                                                         "fewest": f"{fewest:,}", "enough": f"{enough:,}"})
    if not facts.validation:
        warnings.append(_("the version has no validation split: nothing tells when the model starts to memorise; "
                          "freeze a version with one"))
    rank_in_use = chosen.get("lora_r") or hyperparameters.get("lora_r")
    if rank_in_use is not None and rank_in_use >= HIGH_RANK and records < HIGH_RANK_RECORDS:
        warnings.append(_("rank %(rank)d is high for %(records)d records: the adapter can memorise them; 8–16 "
                          "is enough") % {"rank": rank_in_use, "records": records})
    total = facts.lengths.get("total") or records
    if total and cut / total > CUT_SHARE_LIMIT:
        warnings.append(_("max length %(length)d, the model's context, cuts %(cut)d of %(total)d records") % {
            "length": max_length, "cut": cut, "total": total})
    chosen_length = chosen.get("max_length")
    if chosen_length and p95 is not None and chosen_length < p95:
        warnings.append(_("max length %(length)d cuts more than 5%% of the records (95%% are at most %(p95)d "
                          "tokens)") % {"length": chosen_length, "p95": p95})
    return {
        "goal": goal,
        "adapter": str(adapter),
        "hyperparameters": hyperparameters,
        "items": items,
        "warnings": warnings,
        "facts": {"records": records, "validation": facts.validation, "p50": facts.lengths.get("p50"), "p95": p95,
                  "max": facts.lengths.get("max"), "sampled": facts.lengths.get("sampled", False),
                  "parameters": facts.parameters, "context": facts.context, "device_gib": round(facts.device_gib, 2),
                  "reasoning_share": round(facts.reasoning_share, 2)},
    }


def training_run_recommend(*, version: DatasetVersion, base_model: BaseModel, goal: str | None = None,
                           chosen: dict | None = None) -> dict:
    """training_recommend for `version` and `base_model`. Raises ApplicationError for an unknown goal, or a version
    and model of different workspaces."""
    from common.errors import ApplicationError

    if goal not in (None, "", *GOALS):
        raise ApplicationError(f"goal must be one of {', '.join(GOALS)}, not {goal!r}", where="goal")
    if version.dataset.workspace_id != base_model.workspace_id:
        raise ApplicationError("the dataset version and the base model belong to different workspaces",
                               where="dataset_version")
    return training_recommend(facts=recommendation_facts(version=version, base_model=base_model), goal=goal or None,
                              chosen=chosen)
