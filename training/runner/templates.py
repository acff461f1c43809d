"""What a chat template does, found by rendering probe conversations, and the template a run trains with.

A model is trained on the text its chat template writes, and at inference it sees the text the same template writes
with the generation prompt. Real templates differ from each other in ways that make those two texts disagree:

turn end         the token that ends an assistant turn, which need not be the tokenizer's eos (Llama-3 <|eot_id|>,
                 Phi-3.5 <|end|>); generation must stop at it (stop_token_ids)
drops system     Mistral v0.3 writes the system prompt only into the last user turn of a conversation that ends with
                 a user turn: a conversation that ends with the reply has no system prompt at all. Fix: the system
                 prompt goes into the last user turn, as the template does when the model is asked to answer
strips reasoning DeepSeek-R1-Distill deletes everything up to </think> in every assistant turn, the trained one too.
                 Fix: TRL's training template when TRL knows the template, else ours (the deletion taken out)
writes the date  a template that calls strftime_now writes today's date into the text. Fix: the date is pinned
prefill          a generation prompt that starts the reply (DeepSeek's "<think>\\n"): the trained reply must start
                 the same way, so a reply without reasoning gets an empty reasoning block

chat_plan() turns these facts and the run's switches into a ChatPlan: the template text to train with, how the
learned tokens are found ("markers": the template's {% generation %} blocks, its own or TRL's marked copy; else
"rendering": training.runner.encoding renders each prompt and checks it is a prefix) and which data fixes apply.
Django-free: the runner, the platform's registration and launch page, the model server and evaluation all use it.
"""

import re
from dataclasses import asdict, dataclass, field
from datetime import date as Date
from pathlib import Path

PROBE_SYSTEM = "Whetstone probe system prompt"
PROBE_USER = "Whetstone probe question"
PROBE_REPLY = "Whetstone probe reply"
PROBE_REASONING = "Whetstone probe reasoning"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"

SOURCE_MODEL, SOURCE_TRL, SOURCE_WHETSTONE = "model", "trl", "whetstone"
MASKS_MARKERS, MASKS_RENDERING = "markers", "rendering"
REASONING_FIELD, REASONING_INLINE, REASONING_DROPPED = "field", "inline", "dropped"


def template_text(tokenizer) -> str:
    """The tokenizer's chat template ("" when it has none); a template shipped as named variants gives its default."""
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, dict):
        template = template.get("default") or ""
    return template


def render(tokenizer, messages: list[dict], *, chat_template: str | None = None, add_generation_prompt: bool = False,
           tools: list | None = None) -> str:
    """The conversation as the template writes it (the model's own template unless `chat_template` is given)."""
    return tokenizer.apply_chat_template(
        messages,
        tools=tools or None,
        chat_template=chat_template or None,
        tokenize=False,
        add_generation_prompt=add_generation_prompt,
    )


def _render_or_none(tokenizer, messages: list[dict], **options) -> str | None:
    try:
        return render(tokenizer, messages, **options)
    except Exception:  # a template may raise_exception() on a conversation shape it does not take
        return None


def has_generation_markers(chat_template: str) -> bool:
    """Whether the template marks the assistant's output with {% generation %} blocks (whitespace-trim variants too)."""
    return re.search(r"\{%-?\s*generation\s*-?%\}", chat_template or "") is not None


def turn_end_token(tokenizer, *, chat_template: str | None = None) -> str | None:
    """The token that ends an assistant turn: rendering a user/assistant pair, the first added token after the reply
    (<|im_end|> for ChatML, </s> for Mistral). None when the template writes none."""
    text = _render_or_none(
        tokenizer,
        [{"role": "user", "content": PROBE_USER}, {"role": "assistant", "content": PROBE_REPLY}],
        chat_template=chat_template,
    )
    if text is None or PROBE_REPLY not in text:
        return None
    after = text[text.rindex(PROBE_REPLY) + len(PROBE_REPLY):]
    added = set(tokenizer.get_added_vocab().values()) | set(tokenizer.all_special_ids)
    for token_id in tokenizer(after, add_special_tokens=False)["input_ids"]:
        if token_id in added:
            return tokenizer.convert_ids_to_tokens(token_id)
        if tokenizer.decode([token_id]).strip():
            return None  # text after the reply before any turn-ending token: the template ends the turn with text
    return None


def _ids(value) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, int) and not isinstance(item, bool)]
    return []


def stop_token_ids(tokenizer, generation_config=None) -> list[int]:
    """Every token that ends a reply: each id of generation_config.eos_token_id (an int or a list), the tokenizer's
    eos, and the chat template's own end-of-turn token. Sorted, without repeats."""
    ids = set(_ids(getattr(generation_config, "eos_token_id", None))) | set(_ids(tokenizer.eos_token_id))
    if template_text(tokenizer):
        turn_end = turn_end_token(tokenizer)
        if turn_end is not None:
            ids.add(tokenizer.convert_tokens_to_ids(turn_end))
    return sorted(ids)


@dataclass(frozen=True)
class TemplateFacts:
    """What a chat template does, each found by rendering a probe conversation."""

    turn_end: str | None  # the token that ends an assistant turn
    eos: str | None  # the tokenizer's eos token
    drops_system_prompt: bool  # a conversation that ends with the reply loses its system prompt
    strips_reasoning: bool  # reasoning ("<think>…</think>" before the reply) vanishes from the final assistant turn
    reasoning_field: bool  # the template writes an assistant message's "reasoning_content" itself
    writes_date: bool  # the text holds today's date (the template calls strftime_now)
    generation_prefill: str  # what the generation prompt writes of the reply itself ("<think>\n"), "" usually
    has_generation_markers: bool  # {% generation %} blocks mark the assistant's tokens
    trl_template: str | None  # the file name of TRL's marked training copy of this template, when TRL has one

    def as_dict(self) -> dict:
        return asdict(self)


def _generation_prefill(tokenizer, chat_template: str) -> str:
    """The generation prompt's text beyond what an assistant turn itself opens with: DeepSeek-R1-Distill's current
    template opens a turn with <｜Assistant｜> but prompts with <｜Assistant｜><think>\\n, so "<think>\\n"."""
    user = [{"role": "user", "content": PROBE_USER}]
    alone = _render_or_none(tokenizer, user, chat_template=chat_template)
    prompt = _render_or_none(tokenizer, user, chat_template=chat_template, add_generation_prompt=True)
    answered = _render_or_none(
        tokenizer, user + [{"role": "assistant", "content": PROBE_REPLY}], chat_template=chat_template
    )
    if None in (alone, prompt, answered) or not prompt.startswith(alone) or not answered.startswith(alone):
        return ""
    opening = (
        answered[len(alone) : answered.find(PROBE_REPLY, len(alone))] if PROBE_REPLY in answered[len(alone) :] else None
    )
    generation = prompt[len(alone):]
    if opening is None or not generation.startswith(opening):
        return ""
    return generation[len(opening):]


def trl_training_template(tokenizer) -> tuple[str, str] | None:
    """(file name, text) of TRL's marked training template for the tokenizer's own template, when TRL knows it
    (it recognises shipped templates byte for byte); None otherwise."""
    try:
        from trl.chat_template_utils import get_training_chat_template
    except ImportError:  # TRL is pinned; a process without it simply has no training templates to offer
        return None
    try:
        text = get_training_chat_template(tokenizer)
    except Exception:  # ValueError for a template TRL does not know; a template may also fail TRL's probe renderings
        return None
    if text is None:
        return None
    import trl.chat_template_utils as utils

    folder = Path(utils.__file__).parent / "chat_templates"
    name = next(
        (path.name for path in sorted(folder.glob("*_training.jinja")) if path.read_text(encoding="utf-8") == text),
        "training template",
    )
    return name, text


def template_facts(tokenizer, *, chat_template: str | None = None) -> TemplateFacts:
    """The facts of `chat_template` (the tokenizer's own template when None). Precondition: there is a template."""
    template = chat_template or template_text(tokenizer)
    user = {"role": "user", "content": PROBE_USER}
    with_system = _render_or_none(tokenizer, [{"role": "system", "content": PROBE_SYSTEM}, user,
                                              {"role": "assistant", "content": PROBE_REPLY}], chat_template=template)
    inline = _render_or_none(
        tokenizer,
        [user, {"role": "assistant", "content": f"{THINK_OPEN}\n{PROBE_REASONING}\n{THINK_CLOSE}\n\n{PROBE_REPLY}"}],
        chat_template=template,
    )
    field_text = _render_or_none(tokenizer, [user, {"role": "assistant", "content": PROBE_REPLY,
                                                    "reasoning_content": PROBE_REASONING}], chat_template=template)
    own = chat_template is None or chat_template == template_text(tokenizer)
    trl = trl_training_template(tokenizer) if own and not has_generation_markers(template) else None
    return TemplateFacts(
        turn_end=turn_end_token(tokenizer, chat_template=template),
        eos=tokenizer.eos_token,
        drops_system_prompt=with_system is not None and PROBE_SYSTEM not in with_system,
        strips_reasoning=inline is not None and PROBE_REASONING not in inline,
        reasoning_field=field_text is not None and PROBE_REASONING in field_text,
        writes_date="strftime_now" in template,
        generation_prefill=_generation_prefill(tokenizer, template),
        has_generation_markers=has_generation_markers(template),
        trl_template=trl[0] if trl else None,
    )


# `x.split('</think>')[-1]` (and the same with double quotes, or with whitespace): the reasoning deletion of
# DeepSeek-R1-Distill's templates. Taken out, the template writes the whole content.
_REASONING_SPLIT = re.compile(r"""\.split\(\s*(['"])</think>\1\s*\)\s*\[\s*-1\s*\]""")


def reasoning_kept_template(chat_template: str) -> str | None:
    """Our fix for a template that deletes the reasoning: the template with the deletion taken out; None when the
    template deletes it some other way (training.runner.templates.template_facts checks the result)."""
    patched = _REASONING_SPLIT.sub("", chat_template)
    return patched if patched != chat_template else None


_STRFTIME_FORMAT = re.compile(r"""strftime_now\(\s*(['"])(.*?)\1\s*\)""")


def date_pinned_template(chat_template: str, day: Date) -> str:
    """The template with strftime_now() pinned to `day`: a macro of that name, defined first, shadows the function
    transformers provides, for every format the template asks for (others get the ISO date)."""
    formats = sorted({match.group(2) for match in _STRFTIME_FORMAT.finditer(chat_template)})
    branches = "".join(f"{{%- {'if' if index == 0 else 'elif'} format == {fmt!r} -%}}{day.strftime(fmt)}"
                       for index, fmt in enumerate(formats))
    body = f"{branches}{{%- else -%}}{day.isoformat()}{{%- endif -%}}" if branches else day.isoformat()
    return "{%- macro strftime_now(format) -%}" + body + "{%- endmacro -%}\n" + chat_template


@dataclass(frozen=True)
class ChatPlan:
    """How a run renders its rows. Built by chat_plan; training.runner.encoding applies it, in the runner and in the
    launch page's preview alike."""

    chat_template: str  # the template the run trains with
    inference_template: str  # the model's own template (its date pinned too): what the model sees when it answers
    source: str  # SOURCE_MODEL (its own template), SOURCE_TRL (TRL's marked copy) or SOURCE_WHETSTONE (ours, fixed)
    source_name: str  # TRL's file name, or "" for the others
    masks: str  # MASKS_MARKERS or MASKS_RENDERING: how the assistant's tokens are found
    reasoning: str  # REASONING_FIELD, REASONING_INLINE or REASONING_DROPPED: how the final turn's reasoning is written
    system_to_last_user: bool  # the system prompt is moved into the last user turn (templates that drop it)
    prefill: str  # the generation prompt's part of the reply, which every trained reply must start with
    pinned_date: str | None  # the date written for strftime_now, when the template writes one
    facts: TemplateFacts  # of the model's own template
    unfixed: list[str] = field(default_factory=list)  # traps that stay: "strips_reasoning" when no fix exists


def chat_plan(
    tokenizer, *, keep_system_prompt: bool = True, keep_reasoning: bool = True, day: Date | None = None
) -> ChatPlan:
    """The plan for training on `tokenizer`'s model. `keep_system_prompt` and `keep_reasoning` switch the fixes of the
    two traps (on by default); `day` is the date a template that writes one is pinned to (today when None).
    Precondition: the tokenizer has a chat template."""
    own = template_text(tokenizer)
    facts = template_facts(tokenizer)
    pinned = (day or Date.today()) if facts.writes_date else None
    template, source, source_name, unfixed = own, SOURCE_MODEL, "", []
    trl = trl_training_template(tokenizer) if facts.trl_template else None
    if facts.strips_reasoning and keep_reasoning:
        if trl is not None and not template_facts(tokenizer, chat_template=trl[1]).strips_reasoning:
            template, source, source_name = trl[1], SOURCE_TRL, trl[0]
        else:
            patched = reasoning_kept_template(own)
            if patched is not None and not template_facts(tokenizer, chat_template=patched).strips_reasoning:
                template, source = patched, SOURCE_WHETSTONE
            else:
                unfixed.append("strips_reasoning")
    elif trl is not None and not facts.has_generation_markers:
        template, source, source_name = trl[1], SOURCE_TRL, trl[0]
    if pinned is not None:
        template, inference = date_pinned_template(template, pinned), date_pinned_template(own, pinned)
    else:
        inference = own
    trained = template_facts(tokenizer, chat_template=template)
    if not keep_reasoning:
        reasoning = REASONING_DROPPED
    else:
        reasoning = REASONING_FIELD if trained.reasoning_field else REASONING_INLINE
    return ChatPlan(
        chat_template=template, inference_template=inference, source=source, source_name=source_name,
        masks=MASKS_MARKERS if trained.has_generation_markers else MASKS_RENDERING, reasoning=reasoning,
        system_to_last_user=keep_system_prompt and facts.drops_system_prompt, prefill=trained.generation_prefill,
        pinned_date=pinned.isoformat() if pinned else None, facts=facts, unfixed=unfixed,
    )
