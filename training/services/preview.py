"""What a run will train on, before it starts: the exact token ids the trainer reads for the first examples, split into
the parts it learns from and the parts it only reads (or never sees, past max_length), the token lengths of the train
split with how many examples max_length would cut, and what the chat template means for this run.

The tokens come from training.runner.encoding, the functions the runner hands to TRL: the preview is the training
text token for token, for SFT, DPO and KTO alike (training/tests/test_real_models.py checks it against the trainers).
"""

import functools

from common.errors import ApplicationError
from datahub.export import version_rows
from datahub.models import DatasetVersion
from training.models import BaseModel
from training.runner.encoding import (
    CUT,
    MASKED,
    TRAINED,
    TemplateMismatch,
    TemplateRefused,
    View,
    example_views,
    preference_encode,
    reasoning_split,
    row_prepare,
    sft_encode,
)
from training.runner.templates import ChatPlan, chat_plan, template_text
from training.services.base_models import base_model_directory
from training.services.chat_templates import run_notes

__all__ = ["CUT", "MASKED", "TRAINED", "training_run_preview", "tokenizer_load", "training_text_check"]

EXAMPLES = 3
LENGTH_SAMPLE = 2000  # rows tokenized for the length statistics; enough for a stable 95th percentile
CHECK_SAMPLE = 200  # rows a launch checks the chat template against before it queues the run


# The files a tokenizer (with its chat template) is read from: a change to any of them loads it afresh.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
)


@functools.lru_cache(maxsize=4)
def _tokenizer_cached(directory: str, signature: tuple):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory)


def tokenizer_load(base_model: BaseModel):
    """The base model's tokenizer. Kept between calls (the launch page previews on every change, and a real
    tokenizer takes a second or two to load) until one of its files changes; callers must not modify it."""
    directory = base_model_directory(base_model)
    signature = tuple((name, path.stat().st_mtime_ns, path.stat().st_size) for name in TOKENIZER_FILES
                      if (path := directory / name).is_file())
    try:
        return _tokenizer_cached(str(directory), signature)
    except Exception as error:  # transformers raises OSError, ValueError ... for a broken directory
        raise ApplicationError(
            f"cannot load the tokenizer of base model {base_model.name!r}: {error}", where="base_model"
        ) from error


def run_plan(tokenizer, hyperparameters: dict) -> ChatPlan:
    """The run's chat plan (training.runner.templates.chat_plan) from its hyperparameters, dated today."""
    return chat_plan(tokenizer, keep_system_prompt=hyperparameters.get("keep_system_prompt", True),
                     keep_reasoning=hyperparameters.get("keep_reasoning", True))


def row_encode(tokenizer, row: dict, plan: ChatPlan, *, method: str, assistant_only_loss: bool) -> dict:
    """The trainer's input for one exported row, exactly as the runner builds it. Raises TemplateMismatch."""
    prepared = row_prepare(row, plan)
    if method == "sft":
        return sft_encode(tokenizer, prepared, plan, assistant_only_loss=assistant_only_loss)
    return preference_encode(tokenizer, prepared, plan)


def row_length(tokenizer, row: dict, plan: ChatPlan) -> int:
    """Tokens the trainer reads for one exported row of any kind: the conversation, or the prompt with the chosen
    answer (DPO) or the completion (KTO)."""
    method = "dpo" if "chosen" in row else "kto" if "completion" in row and "label" in row else "sft"
    encoded = row_encode(tokenizer, row, plan, method=method, assistant_only_loss=False)
    if method == "sft":
        return len(encoded["input_ids"])
    return len(encoded["prompt_ids"]) + len(encoded["chosen_ids" if method == "dpo" else "completion_ids"])


def view_segments(tokenizer, view: View) -> list[dict]:
    """The view as consecutive segments {"text", "state", "ids"}; joined, their texts are the exact training text."""
    segments: list[dict] = []
    start = 0
    for end in range(1, len(view.ids) + 1):
        if end == len(view.ids) or view.states[end] != view.states[start]:
            ids = view.ids[start:end]
            # Decoding a run of tokens at once keeps multi-byte characters whole.
            segments.append(
                {"text": tokenizer.decode(ids, skip_special_tokens=False), "state": view.states[start], "ids": ids}
            )
            start = end
    return segments


def _rows_with(rows: list[dict]) -> dict:
    """How many of `rows` have a system prompt, and how many carry reasoning in an answer."""
    def answers(row):
        if "messages" in row:
            return [m for m in row["messages"] if m.get("role") == "assistant"]
        return [m for key in ("chosen", "rejected", "completion") for m in row.get(key) or []]

    def prompt(row):
        return row.get("messages") or row.get("prompt") or []

    return {
        "system": sum(1 for row in rows if any(m.get("role") == "system" for m in prompt(row))),
        "reasoning": sum(1 for row in rows if any(reasoning_split(m)[0] for m in answers(row))),
    }


def training_run_preview(
    *,
    base_model: BaseModel,
    dataset_version: DatasetVersion,
    hyperparameters: dict,
    method: str = "sft",
    examples: int = EXAMPLES,
    length_sample: int = LENGTH_SAMPLE,
) -> dict:
    """The preview of a run. Precondition: `hyperparameters` went through hyperparameters_clean, and the train split
    holds the method's kind of rows (run_settings_check).

    Returns {"examples": [{"segments": [{"text", "state", "ids"}], "rejected_segments" (DPO), "label" (KTO),
             "tokens", "trained_tokens", "cut_tokens", "dropped"}],
             "lengths": {"count", "min", "mean", "median", "p95", "max"} | None, "over_max_length", "max_length",
             "sampled" (True when only the first `length_sample` rows were measured), "dropped" (rows TRL leaves out),
             "notes": [Note.as_dict()], "turn_end", "eos", "mismatch": {"count", "measured", "message", "fix",
             "fix_value"} | None (SFT rows the template cannot write consistently: the run would be refused; setting the
             hyperparameter `fix` to `fix_value` would not), "prompt_cut": {"count", "text"} | None
             (DPO/KTO rows whose prompt does not tokenise as the start of prompt + answer), "rows_with": {"system",
             "reasoning"} (in the measured rows), "warnings": [the notes' messages at warning level]}.
    A base model without a chat template cannot render conversations: the preview is only its notes.
    """
    # Imported here: training.selectors reaches this module again through training.services.runs.
    from training.selectors import token_length_summary
    from training.services.chat_templates import WARNING, model_notes

    tokenizer = tokenizer_load(base_model)
    max_length = hyperparameters["max_length"]
    assistant_only_loss = bool(hyperparameters.get("assistant_only_loss", True))
    preview = {
        "examples": [],
        "lengths": None,
        "over_max_length": 0,
        "max_length": max_length,
        "sampled": False,
        "dropped": 0,
        "notes": [],
        "turn_end": None,
        "eos": tokenizer.eos_token,
        "mismatch": None,
        "prompt_cut": None,
        "rows_with": {"system": 0, "reasoning": 0},
        "warnings": [],
    }
    if not template_text(tokenizer):
        notes = model_notes(facts=None, has_chat_template=False)
        preview["notes"] = [note.as_dict() for note in notes]
        preview["warnings"] = [note.message for note in notes]
        return preview
    plan = run_plan(tokenizer, hyperparameters)
    facts = plan.facts  # read from the tokenizer now: registration's stored facts may predate a change of its files
    preview["turn_end"] = facts.turn_end
    lengths, rows, mismatches, cut_rows, cut_text = [], [], [], 0, ""
    for index, row in enumerate(version_rows(dataset_version, "train")):
        if index >= length_sample:
            preview["sampled"] = True
            break
        if "messages" not in row and "prompt" not in row:
            continue
        rows.append(row)
        try:
            encoded = row_encode(tokenizer, row, plan, method=method, assistant_only_loss=assistant_only_loss)
        except TemplateMismatch as error:
            mismatches.append(error)
            continue
        if encoded.get("prompt_cut"):
            cut_rows += 1
            cut_text = cut_text or tokenizer.decode(encoded["prompt_cut"], skip_special_tokens=False)
        views, dropped = example_views(encoded, method=method, max_length=max_length)
        lengths.append(len(views[0].ids))
        preview["dropped"] += dropped
        if len(preview["examples"]) < examples:
            first = views[0]
            example = {
                "segments": view_segments(tokenizer, first),
                "tokens": len(first.ids),
                "trained_tokens": sum(state == TRAINED for view in views for state in view.states),
                "cut_tokens": sum(state == CUT for view in views for state in view.states),
                "dropped": dropped,
            }
            if method == "dpo":
                example["rejected_segments"] = view_segments(tokenizer, views[1])
            if method == "kto":
                example["label"] = bool(row.get("label"))
            preview["examples"].append(example)
    preview["rows_with"] = _rows_with(rows)
    notes = run_notes(
        plan=plan,
        facts=facts,
        hyperparameters=hyperparameters,
        method=method,
        rows_with=preview["rows_with"],
        measured=len(rows),
    )
    if mismatches:
        field, value = (
            ("", False) if isinstance(mismatches[0], TemplateRefused) else mismatch_fix(plan, hyperparameters)
        )
        preview["mismatch"] = {
            "count": len(mismatches),
            "measured": len(rows),
            "message": str(mismatches[0]),
            "fix": field,
            "fix_value": value,
        }
    if cut_rows:
        preview["prompt_cut"] = {"count": cut_rows, "text": cut_text}
    preview["lengths"] = token_length_summary(lengths)
    if lengths:
        preview["over_max_length"] = sum(1 for length in lengths if length > max_length)
    preview["notes"] = [note.as_dict() for note in notes]
    preview["warnings"] = [note.message for note in notes if note.level == WARNING and not note.fixed]
    return preview


def training_text_check(*, base_model: BaseModel, dataset_version: DatasetVersion, hyperparameters: dict, method: str,
                        sample: int = CHECK_SAMPLE) -> None:
    """Refuse a run whose chat template cannot write its rows consistently (training.runner.encoding's
    TemplateMismatch on one of the first `sample` train rows: for SFT a conversation written one way as a prompt and
    another with its reply; for any method a row the template refuses), naming the switch that would fix it. A DPO or
    KTO prompt that is not a token prefix is not refused: TRL moves the answer's start, and the preview warns."""
    tokenizer = tokenizer_load(base_model)
    if not template_text(tokenizer):
        return
    plan = run_plan(tokenizer, hyperparameters)
    assistant_only_loss = bool(hyperparameters.get("assistant_only_loss", True))
    failures, checked = [], 0
    for index, row in enumerate(version_rows(dataset_version, "train")):
        if index >= sample:
            break
        checked += 1
        try:
            row_encode(tokenizer, row, plan, method=method, assistant_only_loss=assistant_only_loss)
        except TemplateMismatch as error:
            failures.append(error)
    if not failures:
        return
    if isinstance(failures[0], TemplateRefused):
        raise ApplicationError(
            f"{len(failures)} of the first {checked} rows cannot be written by the chat template of base "
            f"model {base_model.name!r}: {failures[0]}",
            where="dataset_version",
        )
    field, value = mismatch_fix(plan, hyperparameters)
    raise ApplicationError(
        f"{len(failures)} of the first {checked} conversations cannot be trained on the assistant's tokens "
        f"alone: {failures[0]}; set {field} to {'true' if value else 'false'}",
        where=f"hyperparameters.{field}",
    )


def mismatch_fix(plan: ChatPlan, hyperparameters: dict) -> tuple[str, bool]:
    """(the hyperparameter, the value) that makes conversations a template writes inconsistently trainable: the trap
    fix that is off, or else learning every token."""
    if plan.facts.drops_system_prompt and not plan.system_to_last_user:
        return "keep_system_prompt", True
    if (plan.facts.strips_reasoning or plan.facts.generation_prefill) and not hyperparameters.get(
        "keep_reasoning", True
    ):
        return "keep_reasoning", True
    return "assistant_only_loss", False
