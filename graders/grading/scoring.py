"""Scoring answers with a checked grader definition (graders.grading.definitions); Django-free, so the training
runner calls the same functions as the platform's bench page.

    grades = grade_many(definition, [(sample, item), ...])      # one Grade(score, reason, parts) per pair

A grader never raises for a bad answer: what it cannot score is a 0 with the reason. The calls that need the
platform come in as functions: `embed(texts) -> vectors` for cosine similarity, `ask_model(definition, messages)
-> text` for score_model; without them those graders score 0 and say why.
"""

import difflib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from graders.grading.formula import formula_evaluate, formula_parse
from graders.grading.sandbox import SandboxLimits, python_grade_many

TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
# The first number in a reply; "Score: 7/10" and "**0.8**" read as 7 (of 10) and 0.8.
SCORE_LABELLED = re.compile(r"(?:score|rating|grade)\s*[:=]?\s*\**\s*(-?\d+(?:\.\d+)?)(?:\s*/\s*(\d+(?:\.\d+)?))?",
                            re.IGNORECASE)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass
class Grade:
    score: float
    reason: str = ""
    parts: dict = field(default_factory=dict)  # a multi grader's inner scores, by name


def sample_of(text: str) -> dict:
    """The sample a grader sees for one answer: output_text, and output_json when the text is JSON."""
    sample = {"output_text": text}
    try:
        sample["output_json"] = json.loads(text)
    except (ValueError, TypeError):
        pass
    return sample


def template_fill(template: str, sample: dict, item: dict) -> str:
    """`template` with each {{sample.x}} / {{item.y.z}} replaced by that value ("" when missing; JSON when not
    text)."""
    scope = {"sample": sample, "item": item}

    def value(match: re.Match) -> str:
        current = scope
        for part in match.group(1).split("."):
            current = current.get(part) if isinstance(current, dict) else None
            if current is None:
                return ""
        return current if isinstance(current, str) else json.dumps(current, ensure_ascii=False)

    return TEMPLATE.sub(value, template)


def string_check(operation: str, text: str, reference: str) -> float:
    """eq / ne exact; like: contains the reference; ilike: contains it, case-insensitively."""
    if operation == "eq":
        return float(text == reference)
    if operation == "ne":
        return float(text != reference)
    if operation == "like":
        return float(reference in text)
    return float(reference.casefold() in text.casefold())


def _words(text: str) -> list[str]:
    # CJK text has no spaces: each letter is a word, as in common.text_similarity's shingles.
    from common.text_similarity import CJK_RANGES

    return re.findall(rf"[{CJK_RANGES}]|[^\s{CJK_RANGES}]+", text.casefold())


def rouge_l(text: str, reference: str) -> float:
    """ROUGE-L F1 over words (longest common subsequence); CJK letters count as words."""
    candidate, target = _words(text), _words(reference)
    if not candidate or not target:
        return float(candidate == target)
    previous = [0] * (len(target) + 1)
    for word in candidate:
        current = [0]
        for j, other in enumerate(target, start=1):
            current.append(previous[j - 1] + 1 if word == other else max(previous[j], current[j - 1]))
        previous = current
    common = previous[-1]
    if not common:
        return 0.0
    precision, recall = common / len(candidate), common / len(target)
    return 2 * precision * recall / (precision + recall)


def similarity(metric: str, text: str, reference: str, embed: Callable | None) -> tuple[float, str]:
    if metric == "fuzzy_match":
        return difflib.SequenceMatcher(None, text, reference, autojunk=False).ratio(), ""
    if metric == "bleu":
        import sacrebleu

        tokenize = "zh" if re.search(r"[\u4e00-\u9fff]", reference) else "13a"
        return sacrebleu.sentence_bleu(text, [reference], tokenize=tokenize).score / 100, ""
    if metric == "rouge_l":
        return rouge_l(text, reference), ""
    if embed is None:
        return 0.0, "cosine similarity needs an embedding model, and none is configured here"
    left, right = embed([text, reference])
    norm = math.sqrt(sum(a * a for a in left)) * math.sqrt(sum(b * b for b in right))
    return (max(0.0, sum(a * b for a, b in zip(left, right)) / norm) if norm else 0.0), ""


def score_parse(reply: str, low: float, high: float) -> tuple[float, str]:
    """The score a judge's reply gives, clamped to [low, high]: a JSON object's "score", else a labelled number
    ("Score: 7", "rating = 4/5": a fraction is scaled to the range), else the last number in the reply; the score is
    `low` with a reason when no number is found."""
    text = (reply or "").strip()
    value = None
    for candidate in re.findall(r"\{[^{}]*\}", text):
        try:
            parsed = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(parsed, dict) and isinstance(parsed.get("score"), (int, float)) \
                and not isinstance(parsed.get("score"), bool):
            value = float(parsed["score"])
    if value is None:
        labelled = SCORE_LABELLED.findall(text)
        if labelled:
            number, out_of = labelled[-1]
            value = float(number)
            if out_of and float(out_of) > 0:
                value = low + value / float(out_of) * (high - low)
    if value is None:
        numbers = NUMBER.findall(text)
        if not numbers:
            return low, f"the judge's reply held no score: {text[:200]!r}"
        value = float(numbers[-1])
    if not math.isfinite(value):
        return low, "the judge's score was not a finite number"
    clamped = min(max(value, low), high)
    return clamped, "" if clamped == value else f"the judge's score {value:g} was outside [{low:g}, {high:g}]"


def _score_model(definition: dict, pairs: list, ask_model: Callable | None) -> list[Grade]:
    if ask_model is None:
        return [Grade(0.0, "a score_model grader needs a model endpoint; the training runner has none")] * len(pairs)
    low, high = definition["range"]
    grades = []
    for sample, item in pairs:
        messages = [{"role": message["role"], "content": template_fill(message["content"], sample, item)}
                    for message in definition["input"]]
        try:
            reply = ask_model(definition, messages)
        except Exception as error:  # noqa: BLE001 - a failed judge call is a zero with its reason, never a crash
            grades.append(Grade(0.0, f"the judge could not be asked: {error}"))
            continue
        grades.append(Grade(*score_parse(reply, low, high)))
    return grades


def grade_many(definition: dict, pairs: list[tuple[dict, dict]], *, embed: Callable | None = None,
               ask_model: Callable | None = None, limits: SandboxLimits = SandboxLimits()) -> list[Grade]:
    """One Grade per (sample, item) pair. `definition` is a checked one (definitions.definition_check)."""
    kind = definition["type"]
    if kind in ("string_check", "text_similarity"):
        grades = []
        for sample, item in pairs:
            text = template_fill(definition["input"], sample, item)
            reference = template_fill(definition["reference"], sample, item)
            if kind == "string_check":
                grades.append(Grade(string_check(definition["operation"], text, reference)))
            else:
                try:
                    grades.append(Grade(*similarity(definition["evaluation_metric"], text, reference, embed)))
                except Exception as error:  # noqa: BLE001 - an embedder that fails scores 0 with its reason
                    grades.append(Grade(0.0, f"{type(error).__name__}: {error}"))
        return grades
    if kind == "python":
        return [Grade(score, reason) for score, reason in python_grade_many(definition["source"], pairs,
                                                                            limits=limits)]
    if kind == "score_model":
        return _score_model(definition, pairs, ask_model)
    return _multi(definition, pairs, embed=embed, ask_model=ask_model, limits=limits)


def _multi(definition: dict, pairs: list, **calls) -> list[Grade]:
    tree = formula_parse(definition["calculate_output"])
    inner = {name: grade_many(sub, pairs, **calls) for name, sub in definition["graders"].items()}
    grades = []
    for index in range(len(pairs)):
        parts = {name: grades_of[index].score for name, grades_of in inner.items()}
        reasons = [f"{name}: {grades_of[index].reason}" for name, grades_of in inner.items() if grades_of[index].reason]
        try:
            score = formula_evaluate(tree, parts)
        except (ArithmeticError, ValueError) as error:
            grades.append(Grade(0.0, "; ".join([*reasons, f"the formula failed: {error}"]), parts))
            continue
        if not math.isfinite(score):
            score, reasons = 0.0, [*reasons, "the formula gave a number that is not finite"]
        grades.append(Grade(score, "; ".join(reasons), parts))
    return grades
