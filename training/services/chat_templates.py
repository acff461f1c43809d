"""What a base model's chat template means for training and generation, in the user's terms.

The facts come from training.runner.templates (rendered probe conversations), stored on the base model at
registration (BaseModel.chat_template_facts); the run's plan (training.runner.templates.ChatPlan) says which fixes a
run applies. chat_template_notes turns both into the notes the base model page, the registration message and the
launch page show: each with a code, a level ("warning" or "info"), its message and, for a trap, the hyperparameter
that fixes it and whether this run has the fix on.
"""

from dataclasses import dataclass

from django.utils import translation
from django.utils.translation import gettext as _

from training.runner.templates import SOURCE_TRL, SOURCE_WHETSTONE, TemplateFacts

WARNING, INFO = "warning", "info"


@dataclass
class Note:
    code: str
    level: str  # WARNING or INFO
    message: str
    fix: str = ""  # the hyperparameter that fixes it ("" when none does)
    fixed: bool = False  # the fix is on for this run (launch page only)

    def as_dict(self) -> dict:
        return {"code": self.code, "level": self.level, "message": self.message, "fix": self.fix, "fixed": self.fixed}


def template_facts_load(facts: dict) -> TemplateFacts | None:
    """The stored facts as TemplateFacts; None for a model registered before they were recorded (or without a
    template)."""
    try:
        return TemplateFacts(**facts) if facts else None
    except TypeError:
        return None


def model_notes(*, facts: TemplateFacts | None, has_chat_template: bool) -> list[Note]:
    """The notes of a base model's template alone: what registration warns about and the base model page shows."""
    if not has_chat_template:
        return [
            Note(
                "no_template",
                WARNING,
                _("The tokenizer has no chat template: conversations cannot be written for training or chat."),
            )
        ]
    if facts is None:
        return []
    notes = []
    if not facts.eos:
        notes.append(Note("no_eos", WARNING, _("The tokenizer has no end-of-sequence token.")))
    if facts.turn_end is None:
        notes.append(
            Note(
                "no_turn_end",
                WARNING,
                _(
                    "The chat template writes no end-of-turn token after a reply: generation "
                    "will not know where to stop."
                ),
            )
        )
    elif facts.eos and facts.turn_end != facts.eos:
        notes.append(
            Note(
                "turn_end_differs",
                WARNING,
                _(
                    "A turn ends with %(turn_end)s, not with the tokenizer's end-of-sequence token %(eos)s: generation "
                    "stops at "
                    "either, in the model server, probes, studies, judges and AI annotators."
                )
                % {"turn_end": facts.turn_end, "eos": facts.eos},
            )
        )
    if facts.drops_system_prompt:
        notes.append(Note("drops_system_prompt", WARNING, _(
            "The chat template drops the system prompt from a conversation that ends with the reply: it writes it only "
            "into the last user turn when the model is asked to answer."), fix="keep_system_prompt"))
    if facts.strips_reasoning:
        notes.append(
            Note(
                "strips_reasoning",
                WARNING,
                _(
                    "The chat template deletes the reasoning (everything up to </think>) from every assistant turn, "
                    "the trained "
                    "one too."
                ),
                fix="keep_reasoning",
            )
        )
    if facts.writes_date:
        notes.append(
            Note(
                "writes_date",
                WARNING,
                _(
                    "The chat template writes today's date into the text; training pins it "
                    "to the day the run is launched."
                ),
            )
        )
    if facts.generation_prefill.strip():
        notes.append(Note("generation_prefill", INFO, _(
            "The generation prompt starts the reply with %(prefill)s: trained replies start the same way (a reply "
            "without reasoning gets an empty reasoning block).") % {"prefill": repr(facts.generation_prefill)}))
    return notes


def masks_message(plan, *, assistant_only_loss: bool, method: str) -> str:
    """How this run decides which tokens are learned."""
    if method != "sft":
        return _("Learned tokens: the answers only; the prompt is read, not learned.")
    if not assistant_only_loss:
        return _("Learned tokens: every token of the conversation (assistant-only loss is off).")
    if plan.source == SOURCE_TRL:
        return _(
            "Learned tokens: the assistant's, as marked by TRL's training copy of this chat template (%(name)s)."
        ) % {"name": plan.source_name}
    if plan.masks == "markers":
        return _("Learned tokens: the assistant's, as marked by the chat template's own generation markers.")
    return _(
        "Learned tokens: the assistant's, found by writing each conversation up to every reply with the generation "
        "prompt and checking that it is how the conversation with the reply begins."
    )


def run_notes(*, plan, facts: TemplateFacts, hyperparameters: dict, method: str, rows_with: dict | None = None,
              measured: int = 0) -> list[Note]:
    """The launch page's notes: the model's, each trap marked with whether this run's switch fixes it and how, and how
    many of the `measured` rows it touches (`rows_with`: {"system", "reasoning"} counts)."""
    rows_with = rows_with or {}
    notes = []
    for note in model_notes(facts=facts, has_chat_template=True):
        if note.code in ("drops_system_prompt", "strips_reasoning") and measured:
            count = rows_with.get("system" if note.code == "drops_system_prompt" else "reasoning", 0)
            if note.code == "drops_system_prompt":
                note.message += " " + _("%(count)s of the %(measured)s rows measured have one.") % {
                    "count": count,
                    "measured": measured,
                }
            else:
                note.message += " " + _("%(count)s of the %(measured)s rows measured carry reasoning.") % {
                    "count": count, "measured": measured}
        if note.code == "drops_system_prompt":
            note.fixed = plan.system_to_last_user
            if note.fixed:
                note.message += " " + _(
                    "This run puts it into the last user turn, as the template does when the model answers."
                )
            else:
                note.message += " " + _("This run trains without it.")
        elif note.code == "strips_reasoning":
            note.fixed = hyperparameters.get("keep_reasoning", True) and "strips_reasoning" not in plan.unfixed
            if note.fixed and plan.source == SOURCE_TRL:
                note.message += " " + _("This run trains with TRL's training template %(name)s, which keeps it.") % {
                    "name": plan.source_name}
            elif note.fixed and plan.source == SOURCE_WHETSTONE:
                note.message += " " + _(
                    "This run trains with Whetstone's copy of the template without the deletion, which keeps it."
                )
            elif "strips_reasoning" in plan.unfixed:
                note.fix = ""
                note.message += " " + _(
                    "No copy of the template that keeps it is known: this run trains the replies without it."
                )
            else:
                note.message += " " + _("This run trains the replies without it.")
        elif note.code == "writes_date" and plan.pinned_date:
            note.fixed = True
            note.message += " " + _("This run pins it to %(date)s.") % {"date": plan.pinned_date}
        notes.append(note)
    notes.append(
        Note(
            "masks",
            INFO,
            masks_message(plan, assistant_only_loss=hyperparameters.get("assistant_only_loss", True), method=method),
        )
    )
    return notes


def stored_warnings(*, facts: TemplateFacts | None, has_chat_template: bool) -> list[str]:
    """The model's warnings in English, as registration stores them (its history row, the API's `warnings`)."""
    with translation.override("en"):
        return [
            note.message
            for note in model_notes(facts=facts, has_chat_template=has_chat_template)
            if note.level == WARNING
        ]


SAMPLE_CONVERSATION = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4.", "reasoning_content": "Two and two make four."},
]


def base_model_template_summary(base_model) -> dict:
    """What the base model page shows of its chat template: {"facts" (TemplateFacts or None), "notes", "stop_tokens"
    [(id, token)], "plan" (a run's default ChatPlan, or None), "sample" (segments of a short conversation as a default
    SFT run trains it), "sample_error"}. Loads the tokenizer; facts stored at registration are used when present."""
    from transformers import GenerationConfig

    from training.runner.encoding import TemplateMismatch, example_views
    from training.runner.templates import stop_token_ids, template_facts, template_text
    from training.services.base_models import base_model_directory
    from training.services.preview import row_encode, run_plan, tokenizer_load, view_segments

    tokenizer = tokenizer_load(base_model)
    has_template = bool(template_text(tokenizer))
    facts = template_facts_load(base_model.chat_template_facts) or (template_facts(tokenizer) if has_template else None)
    summary = {
        "facts": facts,
        "notes": model_notes(facts=facts, has_chat_template=has_template),
        "plan": None,
        "sample": [],
        "sample_error": "",
        "stop_tokens": [],
    }
    try:
        generation = GenerationConfig.from_pretrained(base_model_directory(base_model))
    except OSError:  # no generation_config.json: the tokenizer's eos and the template's turn end still stop
        generation = None
    summary["stop_tokens"] = [
        (token_id, tokenizer.convert_ids_to_tokens(token_id)) for token_id in stop_token_ids(tokenizer, generation)
    ]
    if not has_template:
        return summary
    plan = run_plan(tokenizer, {})
    summary["plan"] = plan
    try:
        encoded = row_encode(tokenizer, {"messages": SAMPLE_CONVERSATION}, plan, method="sft", assistant_only_loss=True)
    except TemplateMismatch as error:
        summary["sample_error"] = str(error)
        return summary
    views, _ = example_views(encoded, method="sft", max_length=len(encoded["input_ids"]))
    summary["sample"] = view_segments(tokenizer, views[0])
    return summary
