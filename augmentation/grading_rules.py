"""Rule-based quality score of one record: 1.0 minus a penalty per problem found, floored at 0; an empty answer is 0.

Rule (code)           penalty  fires when
too_short             0.3      the prompt has fewer than `min_prompt_chars` or the answer fewer than
                               `min_response_chars`
too_long              0.2      prompt and answer together exceed `max_chars`
language_mismatch     0.3      the answer's language differs from the expected one (option `language`), or, when
                               none is set, from the prompt's language
refusal               0.4      the answer contains a refusal phrase ("as an AI language model", "I cannot help" ...)
broken_formatting     0.2      an unclosed code fence, a leftover chat-template token (<|im_start|>, [INST], </s> ...),
                               the Unicode replacement character, or an unfilled {{placeholder}}
repeated_text         0.3      one line appears three times or more, or fewer than half of the answer's word 3-grams
                               are distinct (answers of 20 words or more)
empty_response        1.0      the answer is empty
Each reason is stored as {"code", "penalty", "detail"}, the detail saying exactly what was found.
"""

import re

from augmentation.text import language_of, tokens

RULES_DEFAULT = {"min_prompt_chars": 5, "min_response_chars": 10, "max_chars": 8000, "language": ""}
PENALTIES = {"too_short": 0.3, "too_long": 0.2, "language_mismatch": 0.3, "refusal": 0.4, "broken_formatting": 0.2,
             "repeated_text": 0.3, "empty_response": 1.0}
REFUSALS = (
    "as an ai language model",
    "as an ai assistant",
    "i cannot help with",
    "i can't help with",
    "i'm sorry, but i can",
    "i am sorry, but i can",
    "i am unable to",
    "i'm unable to",
    "i cannot assist",
    "i can't assist",
    "作为一个人工智能",
    "作为人工智能",
    "作为ai",
    "抱歉，我无法",
    "对不起，我无法",
    "我无法帮助",
    "我不能帮助",
)
TEMPLATE_TOKENS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "[INST]",
    "[/INST]",
    "</s>",
    "<s>",
    "<|assistant|>",
    "<|user|>",
)
PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")


def _formatting_problem(text: str) -> str:
    if text.count("```") % 2:
        return "an unclosed ``` code fence"
    for token in TEMPLATE_TOKENS:
        if token in text:
            return f"a leftover template token {token}"
    if "\ufffd" in text:
        return "the replacement character \ufffd (broken encoding)"
    placeholder = PLACEHOLDER.search(text)
    if placeholder:
        return f"an unfilled placeholder {placeholder.group(0)}"
    return ""


def _repetition(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in set(lines):
        if lines.count(line) >= 3:
            return f"the line {line[:60]!r} appears {lines.count(line)} times"
    words = tokens(text)
    if len(words) >= 20:
        grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
        share = len(set(grams)) / len(grams)
        if share < 0.5:
            return f"only {share:.0%} of the word 3-grams are distinct"
    return ""


def rules_grade(prompt: str, response: str, options: dict | None = None) -> tuple[float, list[dict]]:
    """(score, reasons) of one record's prompt and answer under RULES_DEFAULT overridden by `options`."""
    o = {**RULES_DEFAULT, **(options or {})}
    if not response.strip():
        return 0.0, [{"code": "empty_response", "penalty": 1.0, "detail": "the answer is empty"}]
    reasons = []

    def fire(code: str, detail: str) -> None:
        reasons.append({"code": code, "penalty": PENALTIES[code], "detail": detail})

    if len(prompt.strip()) < o["min_prompt_chars"]:
        fire("too_short", f"the prompt has {len(prompt.strip())} characters (minimum {o['min_prompt_chars']})")
    elif len(response.strip()) < o["min_response_chars"]:
        fire("too_short", f"the answer has {len(response.strip())} characters (minimum {o['min_response_chars']})")
    if len(prompt) + len(response) > o["max_chars"]:
        fire("too_long", f"{len(prompt) + len(response)} characters (maximum {o['max_chars']})")
    expected = o["language"] or language_of(prompt)
    found = language_of(response)
    if expected and found and found != expected:
        fire("language_mismatch", f"the answer is in {found}, expected {expected}")
    lowered = response.casefold()
    phrase = next((p for p in REFUSALS if p in lowered), None)
    if phrase:
        fire("refusal", f"the answer contains {phrase!r}")
    problem = _formatting_problem(prompt + "\n" + response)
    if problem:
        fire("broken_formatting", problem)
    repeated = _repetition(response)
    if repeated:
        fire("repeated_text", repeated)
    score = max(0.0, 1.0 - sum(r["penalty"] for r in reasons))
    return round(score, 4), reasons


JUDGE_PROMPT = (
    "You grade training data for a chat assistant. Rate how good the answer is for the question: correct, "
    "helpful, well written, in the question's language. Reply with one line: Score: N, where N is an integer "
    "from 1 (useless) to 10 (excellent).\n\nQuestion:\n{prompt}\n\nAnswer:\n{response}"
)
SCORE_PATTERNS = (
    re.compile(r"score\s*[:：=]?\s*\**\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?", re.IGNORECASE),
    re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", re.IGNORECASE),
    re.compile(r"(?:评分|分数|得分)\s*[:：为是]?\s*(\d+(?:\.\d+)?)"),
    re.compile(r"^\s*\**(\d+(?:\.\d+)?)\**\s*$", re.MULTILINE),
)


def judge_score_parse(reply: str) -> float | None:
    """The judge's 1-10 score mapped to 0-1 ((N - 1) / 9), or None when the reply holds no score in range.

    Tries, in order: "Score: N" (any case, optional markdown bold, optional /10), "N/10" or "N out of 10", Chinese
    "评分：N", a line holding only the number.
    """
    for pattern in SCORE_PATTERNS:
        for match in pattern.finditer(reply or ""):
            value = float(match.group(1))
            if 1 <= value <= 10:
                return round((value - 1) / 9, 4)
    return None


def tier_suggest(mean_score: float | None) -> str:
    """A: mean ≥ 0.85, B: ≥ 0.7, C: ≥ 0.5, else D."""
    if mean_score is None:
        return ""
    for tier, floor in (("A", 0.85), ("B", 0.7), ("C", 0.5)):
        if mean_score >= floor:
            return tier
    return "D"
