"""Rows → the token ids a trainer reads and which of them it learns: the one code path of training and its preview.

The runner hands TRL what these functions return, and the launch page's preview shows what they return, so the
preview is the training text token for token (training.tests.test_real_models checks it for every shared template).

row_prepare        the plan's data fixes (training.runner.templates.ChatPlan): reasoning kept in the final assistant
                   turn only (earlier turns as the model sees its history: without it), a reply started the way the
                   generation prompt starts it, the system prompt moved into the last user turn for a template that
                   would drop it
sft_encode         {"input_ids", "labels"} (-100 where nothing is learned), TRL's pre-tokenized SFT input. With
                   assistant-only loss, the assistant's tokens are found by the template's {% generation %} markers
                   (its own or TRL's marked copy, exactly as SFTTrainer finds them) or, for a template without
                   markers, by rendering the conversation up to each assistant turn with the generation prompt and
                   through it: each rendering must be a prefix of the next and of the whole, and the final reply is
                   tokenized after the prompt exactly as the model sees it when it answers. An assistant turn of
                   "weight": 0 (OpenAI's chat format) is read, never learned, with or without assistant-only loss:
                   its tokens (the same stretch assistant-only loss would learn) are labelled -100
preference_encode  DPO {"prompt_ids", "chosen_ids", "rejected_ids"} and KTO {"prompt_ids", "completion_ids"}: TRL's own
                   tokenization (the prompt with the generation prompt; the answers where the tokens part from it),
                   which the runner checks against what the trainer prepared
example_views      what the trainer then computes on: max_length cuts (keeping the start), rows TRL drops
"""

from dataclasses import dataclass

from training.runner.templates import (
    MASKS_MARKERS,
    REASONING_FIELD,
    REASONING_INLINE,
    THINK_CLOSE,
    THINK_OPEN,
    ChatPlan,
    render,
)

TRAINED, MASKED, CUT = "trained", "masked", "cut"
IGNORED = -100  # the label of a token that is read, not learned


class TemplateMismatch(ValueError):
    """A row the chat template writes one way as a prompt and another way followed by its answer: no training text
    would match what the model sees when it answers. The message says where, in the user's terms."""


class TemplateRefused(TemplateMismatch):
    """A row the chat template refuses to write at all (it raises, or reads a field the row lacks): no switch helps."""


# ---------------------------------------------------------------- data fixes


def reasoning_split(message: dict) -> tuple[str, str]:
    """(reasoning, reply) of an assistant message: its "reasoning_content", or a <think>…</think> block opening its
    content; ("", content) when it has neither."""
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or ""
    if not reasoning and content.lstrip().startswith(THINK_OPEN) and THINK_CLOSE in content:
        inner, _, rest = content.lstrip()[len(THINK_OPEN):].partition(THINK_CLOSE)
        return inner.strip(), rest.lstrip()
    return reasoning.strip(), content


def _reply(message: dict, plan: ChatPlan, *, final: bool) -> dict:
    reasoning, content = reasoning_split(message)
    clean = {key: value for key, value in message.items() if key != "reasoning_content" and value is not None}
    if final and reasoning and plan.reasoning == REASONING_FIELD:
        clean["reasoning_content"] = reasoning
    elif final and reasoning and plan.reasoning == REASONING_INLINE:
        content = f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{content}"
    if final and plan.prefill and not content.startswith(plan.prefill) and plan.prefill.lstrip().startswith(THINK_OPEN):
        # The model is prompted with the reasoning block already open; a reply without reasoning closes it at once
        # (right after the prompt's own line break, so no token runs across the end of the prompt).
        opened = plan.prefill if plan.prefill.endswith("\n") else plan.prefill + "\n"
        content = f"{opened}{THINK_CLOSE}\n\n{content}"
    if message.get("content") is not None or content:
        clean["content"] = content  # a tool call's absent content stays absent: templates tell None from ""
    return clean


def _turns(messages: list[dict], plan: ChatPlan, *, final_reply: bool) -> list[dict]:
    """The messages fixed by the plan; the last one is the trained reply when `final_reply`."""
    last = len(messages) - 1
    fixed = [_reply(m, plan, final=final_reply and i == last) if m.get("role") == "assistant" else
             {k: v for k, v in m.items() if v is not None} for i, m in enumerate(messages)]
    if plan.system_to_last_user and fixed and fixed[0].get("role") == "system":
        system, rest = fixed[0].get("content") or "", fixed[1:]
        users = [i for i, m in enumerate(rest) if m.get("role") == "user"]
        if users:
            # As the template writes it when the model is asked to answer: "system\n\nquestion".
            target = rest[users[-1]]
            question = target.get("content") or ""
            rest[users[-1]] = {**target, "content": f"{system}\n\n{question}" if system.strip() else question}
            fixed = rest
    return fixed


def row_prepare(row: dict, plan: ChatPlan) -> dict:
    """A runner row (datahub.export's TRL formats) with the plan's fixes applied; the same keys."""
    row = dict(row)
    if "messages" in row:
        row["messages"] = _turns(row["messages"], plan, final_reply=True)
        return row
    if not isinstance(row.get("prompt"), list):
        return row  # plain-text prompt and completion: no chat template writes them
    row["prompt"] = _turns(row["prompt"], plan, final_reply=False)
    for key in ("chosen", "rejected", "completion"):
        if isinstance(row.get(key), list):
            row[key] = [_reply(m, plan, final=True) if m.get("role") == "assistant" else m for m in row[key]]
    return row


# ---------------------------------------------------------------- tokens


def _ids(tokenizer, text: str) -> list[int]:
    # The template writes every special token itself; adding a BOS again would change the text.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _chat_ids(
    tokenizer, messages: list[dict], plan: ChatPlan, *, tools=None, add_generation_prompt: bool = False
) -> list[int]:
    """Token ids exactly as TRL's trainers tokenize a conversation (apply_chat_template, tokenize=True)."""
    return list(
        tokenizer.apply_chat_template(
            messages,
            tools=tools or None,
            chat_template=plan.chat_template,
            tokenize=True,
            return_dict=True,
            add_generation_prompt=add_generation_prompt,
        )["input_ids"]
    )


def common_prefix_length(ids: list[int], other: list[int]) -> int:
    """Leading tokens the two sequences share (TRL's rule for where a completion starts)."""
    length = 0
    for token, other_token in zip(ids, other):
        if token != other_token:
            break
        length += 1
    return length


def _excerpt(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _assistant_spans(
    tokenizer, messages: list[dict], plan: ChatPlan, *, tools=None
) -> tuple[str, list[tuple[int, int]]]:
    """(the conversation's text, the character span of each assistant turn) found by rendering: each turn runs from
    the end of the conversation before it, rendered with the generation prompt, to the end of the conversation
    through it. Raises TemplateMismatch when a rendering is not a prefix of the next."""
    full = render(tokenizer, messages, chat_template=plan.chat_template, tools=tools)
    spans = []
    for index, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        before = render(
            tokenizer, messages[:index], chat_template=plan.chat_template, add_generation_prompt=True, tools=tools
        )
        through = (
            full
            if index == len(messages) - 1
            else render(tokenizer, messages[: index + 1], chat_template=plan.chat_template, tools=tools)
        )
        if not through.startswith(before) or not full.startswith(through):
            turn = sum(1 for m in messages[:index + 1] if m.get("role") == "assistant")
            raise TemplateMismatch(_mismatch(f"the conversation up to assistant turn {turn}", before, through))
        spans.append((len(before), len(through)))
    return full, spans


def _marked_spans(
    tokenizer, messages: list[dict], plan: ChatPlan, *, tools=None
) -> tuple[str, list[list[tuple[int, int]]]]:
    """(the conversation's text, the character spans of the tokens the template's {% generation %} blocks mark, one
    list per stretch of consecutive marked tokens): transformers' assistant mask, exactly as SFTTrainer's
    assistant_only_loss computes it."""
    encoded = tokenizer.apply_chat_template(
        messages,
        tools=tools or None,
        chat_template=plan.chat_template,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        tokenizer_kwargs={"return_offsets_mapping": True},
    )
    text = render(tokenizer, messages, chat_template=plan.chat_template, tools=tools)
    stretches: list[list[tuple[int, int]]] = []
    previous = False
    for span, marked in zip(encoded["offset_mapping"], encoded["assistant_masks"], strict=True):
        if marked and not previous:
            stretches.append([])
        if marked:
            stretches[-1].append(tuple(span))
        previous = bool(marked)
    return text, stretches


def _weights_split(messages: list[dict]) -> tuple[list[dict], list[bool]]:
    """(the messages as the template reads them, without "weight"; for each assistant turn in order, whether it is
    learned: not when its weight is 0)."""
    learned = [message.get("weight") != 0 for message in messages if message.get("role") == "assistant"]
    return [{k: v for k, v in message.items() if k != "weight"} if "weight" in message else message
            for message in messages], learned


def _turn_spans(
    tokenizer, messages: list[dict], plan: ChatPlan, *, tools=None
) -> tuple[str, list[list[tuple[int, int]]]]:
    """(the conversation's text, for each assistant turn the character spans assistant-only loss learns of it): the
    plan's {% generation %} stretches, one per turn, or the rendered turns (_assistant_spans)."""
    if plan.masks != MASKS_MARKERS:
        text, spans = _assistant_spans(tokenizer, messages, plan, tools=tools)
        return text, [[span] for span in spans]
    text, stretches = _marked_spans(tokenizer, messages, plan, tools=tools)
    turns = sum(1 for message in messages if message.get("role") == "assistant")
    if len(stretches) != turns:
        raise TemplateMismatch(f"the chat template's {{% generation %}} blocks mark {len(stretches)} stretches of this "
                               f"conversation's {turns} assistant turns, so a turn of weight 0 cannot be left out")
    return text, stretches


def _mismatch(what: str, asked: str, answered: str) -> str:
    shared = next((i for i, (a, b) in enumerate(zip(asked, answered)) if a != b), min(len(asked), len(answered)))
    return (
        f"the chat template writes {what} one way when the model is asked to answer ({_excerpt(asked[shared:])}) and "
        f"another when the answer follows ({_excerpt(answered[shared:])}), so no training text matches what the "
        "model sees when it answers"
    )


def _tokens_with_offsets(tokenizer, text: str, start: int) -> tuple[list[int], list[tuple[int, int]]]:
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return list(encoded["input_ids"]), [(start + a, start + b) for a, b in encoded["offset_mapping"]]


def _overlapping(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[bool]:
    """For each token's character span (in text order), whether it shares a character with one of `spans`."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        elif end > start:
            merged.append([start, end])
    flags, index = [], 0
    for a, b in offsets:
        while index < len(merged) and merged[index][1] <= a:
            index += 1
        flags.append(index < len(merged) and merged[index][0] < b and b > a)
    return flags


def _template_errors_named(encode):
    """A chat template that refuses a row (raise_exception, a field it needs missing) raises TemplateMismatch saying
    so."""
    import functools

    from jinja2 import TemplateError

    @functools.wraps(encode)
    def wrapped(*args, **kwargs):
        try:
            return encode(*args, **kwargs)
        except TemplateError as error:
            raise TemplateRefused(f"the chat template cannot write this row: {error}") from error

    return wrapped


@_template_errors_named
def sft_encode(tokenizer, row: dict, plan: ChatPlan, *, assistant_only_loss: bool) -> dict:
    """{"input_ids", "labels"} of one prepared SFT row: a conversation {"messages"(, "tools")}, or {"prompt",
    "completion"} (which learns the completion, as TRL does). Raises TemplateMismatch (see the module docstring)."""
    tools = row.get("tools")
    if "messages" not in row:
        prompt, completion, learned_turns = row["prompt"], row["completion"], [True]
        if isinstance(prompt, list) and isinstance(completion, list):
            prompt = _weights_split(prompt)[0]
            completion, learned_turns = _weights_split(completion)
        encoded = preference_encode(tokenizer, {"prompt": prompt, "completion": completion, "tools": tools}, plan)
        ids = encoded["prompt_ids"] + encoded["completion_ids"]
        learned = encoded["completion_ids"] if all(learned_turns) else [IGNORED] * len(encoded["completion_ids"])
        return {"input_ids": ids, "labels": [IGNORED] * len(encoded["prompt_ids"]) + learned}
    messages, learned_turns = _weights_split(row["messages"])
    if not assistant_only_loss:
        ids = _chat_ids(tokenizer, messages, plan, tools=tools)
        if all(learned_turns):
            return {"input_ids": ids, "labels": list(ids)}
        text, turns = _turn_spans(tokenizer, messages, plan, tools=tools)
        tokens, offsets = _tokens_with_offsets(tokenizer, text, 0)
        if tokens != ids:
            raise TemplateMismatch("the conversation's text tokenizes differently from the chat template's own tokens, "
                                   "so a turn of weight 0 cannot be left out")
        unlearned = [span for spans, keep in zip(turns, learned_turns, strict=True) if not keep for span in spans]
        skipped = _overlapping(offsets, unlearned)
        labels = [IGNORED if skip else token for token, skip in zip(ids, skipped, strict=True)]
        return {"input_ids": ids, "labels": labels}
    if all(learned_turns) and plan.masks == MASKS_MARKERS:
        text, stretches = _marked_spans(tokenizer, messages, plan, tools=tools)
        spans = [span for stretch in stretches for span in stretch]
    elif all(learned_turns):
        text, spans = _assistant_spans(tokenizer, messages, plan, tools=tools)
    else:
        text, turns = _turn_spans(tokenizer, messages, plan, tools=tools)
        spans = [span for turn_spans, keep in zip(turns, learned_turns, strict=True) if keep for span in turn_spans]
    if messages[-1].get("role") == "assistant":
        # The final reply is tokenized after its prompt exactly as the model's own template writes that prompt when
        # it answers: the same text, and the same token ids (no token runs across the boundary).
        prompt = render(
            tokenizer, messages[:-1], chat_template=plan.inference_template, add_generation_prompt=True, tools=tools
        )
        if not text.startswith(prompt):
            raise TemplateMismatch(
                _mismatch("the conversation before the final reply", prompt, text[: len(prompt) + 40])
            )
        head_ids, head_offsets = _tokens_with_offsets(tokenizer, text[:len(prompt)], 0)
        tail_ids, tail_offsets = _tokens_with_offsets(tokenizer, text[len(prompt):], len(prompt))
        ids, offsets = head_ids + tail_ids, head_offsets + tail_offsets
    else:
        ids, offsets = _tokens_with_offsets(tokenizer, text, 0)
    learned = _overlapping(offsets, spans)
    if not any(learned) and any(learned_turns):  # every turn of weight 0: nothing to learn, and TRL drops the row
        raise TemplateMismatch("the chat template marks no token of this conversation as the assistant's")
    return {"input_ids": ids, "labels": [token if keep else IGNORED for token, keep in zip(ids, learned)]}


@_template_errors_named
def preference_encode(tokenizer, row: dict, plan: ChatPlan) -> dict:
    """TRL's DPO ({"prompt", "chosen", "rejected"}) or KTO ({"prompt", "completion"}) tokenization of one prepared
    row, plus "prompt_cut": the prompt's tokens that do not start prompt + answer (TRL's "The tokenized prompt is not
    a prefix" case; they become part of the answers), [] when the prompt is a true prefix. Raises TemplateMismatch
    only for a row the template refuses to write."""
    tools = row.get("tools")
    prompt_ids = _chat_ids(tokenizer, row["prompt"], plan, tools=tools, add_generation_prompt=True)
    answers = ("chosen", "rejected") if "chosen" in row else ("completion",)
    full = {key: _chat_ids(tokenizer, row["prompt"] + row[key], plan, tools=tools) for key in answers}
    length = min(common_prefix_length(prompt_ids, ids) for ids in full.values())
    encoded = {"prompt_ids": prompt_ids[:length], **{f"{key}_ids": ids[length:] for key, ids in full.items()},
               "prompt_cut": prompt_ids[length:]}
    inference = _ids(tokenizer, render(tokenizer, row["prompt"], chat_template=plan.inference_template,
                                       add_generation_prompt=True, tools=tools))
    if inference != prompt_ids and not encoded["prompt_cut"]:
        # The trained template writes the prompt differently from the model's own: count it as cut from there.
        encoded["prompt_cut"] = inference[common_prefix_length(inference, prompt_ids):]
    return encoded


# ---------------------------------------------------------------- what the trainer computes on


@dataclass
class View:
    """One sequence as the trainer sees it: its token ids and, per token, TRAINED, MASKED or CUT."""

    ids: list[int]
    states: list[str]


def _view(ids: list[int], learned: list[bool], max_length: int, *, offset: int = 0) -> View:
    states = [CUT if offset + i >= max_length else (TRAINED if keep else MASKED) for i, keep in enumerate(learned)]
    return View(ids=list(ids), states=states)


def example_views(encoded: dict, *, method: str, max_length: int) -> tuple[list[View], bool]:
    """([views], dropped) of one encoded row under TRL's truncation (keep the start, max_length tokens per sequence).

    sft: one view. dpo: prompt + chosen, then the rejected answer alone (after the same prompt). kto: prompt +
    completion. `dropped` is True when TRL leaves the row out: nothing learned within max_length (SFT), or a prompt
    that alone fills max_length (DPO, KTO)."""
    if method == "sft":
        learned = [label != IGNORED for label in encoded["labels"]]
        view = _view(encoded["input_ids"], learned, max_length)
        return [view], TRAINED not in view.states
    prompt = encoded["prompt_ids"]
    answers = ("chosen", "rejected") if method == "dpo" else ("completion",)
    first = encoded[f"{answers[0]}_ids"]
    views = [_view(prompt + first, [False] * len(prompt) + [True] * len(first), max_length)]
    if method == "dpo":
        rejected = encoded["rejected_ids"]
        views.append(_view(rejected, [True] * len(rejected), max_length, offset=len(prompt)))
    return views, len(prompt) >= max_length
