"""What a run will train on, before it starts: the exact text the trainer sees for the first examples, split into
the parts it learns from and the parts it only reads (or never sees, past max_length), and the token lengths of the
train split with how many examples max_length would cut.

SFT on {"messages"} rows, as the runner trains: the base model's own chat template renders each conversation; with
assistant_only_loss the template's {% generation %} markers decide which tokens count, else every token does;
truncation keeps the start (TRL's only mode). DPO and KTO learn from the completion only: the prompt (rendered with
the generation prompt) is read, the chosen answer (DPO) or the completion (KTO) is learned.
"""

import statistics
from dataclasses import dataclass

from common.errors import ApplicationError
from datahub.export import version_rows
from datahub.models import DatasetVersion
from training.models import BaseModel
from training.services.base_models import base_model_directory

EXAMPLES = 3
LENGTH_SAMPLE = 2000  # rows tokenized for the length statistics; enough for a stable 95th percentile

TRAINED, MASKED, CUT = "trained", "masked", "cut"


@dataclass
class Segment:
    text: str
    state: str  # TRAINED (in the loss), MASKED (read, not learned) or CUT (past max_length: never seen)


def tokenizer_load(base_model: BaseModel):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(base_model_directory(base_model))
    except Exception as error:  # transformers raises OSError, ValueError ... for a broken directory
        raise ApplicationError(f"cannot load the tokenizer of base model {base_model.name!r}: {error}", where="base_model") from error


def chat_template_has_generation_markers(tokenizer) -> bool:
    """Whether assistant_only_loss can find the assistant's tokens: TRL reads them from {% generation %} blocks."""
    template = getattr(tokenizer, "chat_template", None) or ""
    return "{% generation %}" in template or "{%- generation %}" in template or "generation -%}" in template


def chat_template_warnings(*, base_model: BaseModel, tokenizer, assistant_only_loss: bool) -> list[str]:
    """The base model's registration warnings (no template, no end-of-turn) and the ones this run's options add."""
    warnings = list(base_model.warnings or [])
    if assistant_only_loss and not chat_template_has_generation_markers(tokenizer):
        warnings.append("the chat template has no {% generation %} markers, so assistant_only_loss cannot tell the "
                        "assistant's tokens apart; turn it off or use a template with the markers")
    return warnings


def row_encode(tokenizer, row: dict) -> tuple[list[int], list[int]]:
    """(token ids, 1 where the trainer learns) of one row rendered by the chat template: for a conversation, where the
    assistant speaks ({% generation %} markers); for a preference or like/dislike row, the completion after the prompt."""
    if "prompt" in row:
        completion = row.get("chosen") or row.get("completion") or []
        ids = list(tokenizer.apply_chat_template(row["prompt"] + completion, tokenize=True, return_dict=True)["input_ids"])
        prompt_ids = tokenizer.apply_chat_template(row["prompt"], tokenize=True, return_dict=True, add_generation_prompt=True)
        prompt_length = len(prompt_ids["input_ids"])
        return ids, [0] * prompt_length + [1] * (len(ids) - prompt_length)
    encoded = tokenizer.apply_chat_template(row["messages"], tools=row.get("tools"), tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
    ids = list(encoded["input_ids"])
    return ids, list(encoded.get("assistant_masks") or [0] * len(ids))


def example_segments(*, tokenizer, ids: list[int], assistant: list[int], max_length: int,
                     assistant_only_loss: bool) -> list[Segment]:
    """The encoded conversation as consecutive segments; joined, their texts are the exact training text."""
    states = [(MASKED if assistant_only_loss and not assistant[i] else TRAINED) if i < max_length else CUT
              for i in range(len(ids))]
    segments: list[Segment] = []
    start = 0
    for end in range(1, len(ids) + 1):
        if end == len(ids) or states[end] != states[start]:
            # Decoding a run of tokens at once keeps multi-byte characters whole.
            segments.append(Segment(text=tokenizer.decode(ids[start:end], skip_special_tokens=False), state=states[start]))
            start = end
    return segments


def _percentile(sorted_values: list[int], fraction: float) -> int:
    return sorted_values[min(len(sorted_values) - 1, int(round(fraction * (len(sorted_values) - 1))))]


def training_run_preview(*, base_model: BaseModel, dataset_version: DatasetVersion, hyperparameters: dict, method: str = "sft",
                         examples: int = EXAMPLES, length_sample: int = LENGTH_SAMPLE) -> dict:
    """The preview of a run. Precondition: `hyperparameters` went through hyperparameters_clean, and the train split
    holds the method's kind of rows (run_settings_check).

    Returns {"examples": [{"segments": [{"text", "state"}], "tokens", "trained_tokens", "cut_tokens"}],
             "lengths": {"count", "min", "mean", "median", "p95", "max"} | None, "over_max_length", "max_length",
             "sampled" (True when only the first `length_sample` rows were measured), "warnings": [...]}.
    A base model without a chat template cannot render conversations: the preview is only its warnings.
    """
    tokenizer = tokenizer_load(base_model)
    max_length = hyperparameters["max_length"]
    # DPO and KTO never learn the prompt.
    assistant_only_loss = bool(hyperparameters.get("assistant_only_loss")) or method != "sft"
    warnings = chat_template_warnings(base_model=base_model, tokenizer=tokenizer,
                                      assistant_only_loss=bool(hyperparameters.get("assistant_only_loss")))
    preview = {"examples": [], "lengths": None, "over_max_length": 0, "max_length": max_length, "sampled": False,
               "warnings": warnings}
    if not getattr(tokenizer, "chat_template", None):
        return preview
    lengths = []
    for index, row in enumerate(version_rows(dataset_version, "train")):
        if index >= length_sample:
            preview["sampled"] = True
            break
        if "messages" not in row and "prompt" not in row:
            continue
        ids, assistant = row_encode(tokenizer, row)
        lengths.append(len(ids))
        if len(preview["examples"]) < examples:
            segments = example_segments(tokenizer=tokenizer, ids=ids, assistant=assistant, max_length=max_length,
                                        assistant_only_loss=assistant_only_loss)
            kept = min(len(ids), max_length)
            preview["examples"].append({
                "segments": [{"text": segment.text, "state": segment.state} for segment in segments],
                "tokens": len(ids),
                "trained_tokens": sum(assistant[:kept]) if assistant_only_loss else kept,
                "cut_tokens": len(ids) - kept,
            })
    if lengths:
        ordered = sorted(lengths)
        preview["lengths"] = {"count": len(ordered), "min": ordered[0], "mean": round(statistics.fmean(ordered), 1),
                              "median": _percentile(ordered, 0.5), "p95": _percentile(ordered, 0.95), "max": ordered[-1]}
        preview["over_max_length"] = sum(1 for length in lengths if length > max_length)
    return preview
