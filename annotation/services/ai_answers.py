"""What an AI annotator is asked about one record, and how its answer is read (no database, no network).

A schema that asks only for labels keeps the labels-only exchange: the prompt lists the labels and asks for a label
path, and the answer is read leniently (paths, bare leaf names, lists, fenced JSON, a path inside a sentence).
A schema that also asks questions (a rating, a free-text question, the pairwise preference on records with two answers,
the ranking of a ranking item's answers) gets one JSON object back, e.g. {"labels": ["billing/refund"], "rating": 4,
"free_text": "...", "preference": "a"}; {questions} in the template expands to the questions and that format. Each field
has its own reader, and an answer whose labels or any asked field are unusable is refused with a reason that names the
field.

One more question is one more `Question` built in `ai_questions`, one reader in `_READERS`, and a field of the same
name on AIAnswer and annotation_submit (the run passes the read fields on by name).
"""

import json
import math
import re
from dataclasses import dataclass, field

from annotation.models import LabelSchema
from annotation.services.annotations import MAX_COMMENT_CHARS, pairwise_record
from common.json_limits import json_too_deep
from datahub.canonical import normalise_text
from datahub.models import Record

DEFAULT_PROMPT = """You label conversations. Read the conversation and pick the label that fits it best.

[Labels]
{labels}

[Conversation]
{conversation}

Answer with the label path only, exactly as written in the list (for example: {example}). Do not explain."""

# The default for a schema that asks only questions (no labels): the same without the labels.
DEFAULT_PROMPT_QUESTIONS_ONLY = """You review conversations. Read the conversation and answer the questions about it.

[Conversation]
{conversation}

{questions}"""

# The default for a schema that asks more than labels: {questions} holds the questions and the answer format.
DEFAULT_PROMPT_WITH_QUESTIONS = """You label conversations. Read the conversation, pick the label that fits it best \
and answer the questions about it.

[Labels]
{labels}

[Conversation]
{conversation}

{questions}"""

QUESTIONS_PLACEHOLDER = "{questions}"
_PLACEHOLDER = re.compile(r"\{(conversation|labels|example|questions)\}")
_LABELS_ONLY_ANSWER = (
    "Answer with the label path only, exactly as written in the list (for example: {example}). Do not explain."
)


@dataclass(frozen=True)
class Question:
    """One question beside the labels. `key` names the JSON field of the answer, the reader and the stored field."""

    key: str
    text: str
    answer_format: str
    scale: int = 0
    # A ranking: the item's answers (Candidate: entry id, number, text), shown to the model as "Answer <number>".
    candidates: tuple = ()


def schema_questions(schema: LabelSchema) -> list[str]:
    """The keys of the questions the schema may ask beside the labels (the preference only on records with two
    answers)."""
    keys = []
    if schema.rating_scale:
        keys.append("rating")
    if schema.free_text_question:
        keys.append("free_text")
    if schema.pairwise_question:
        keys.append("preference")
    if schema.ranking_question:
        keys.append("ranking")
    return keys


def ai_questions(*, schema: LabelSchema, record: Record, candidates: list = ()) -> list[Question]:
    """The questions beside the labels that `record` is asked under `schema`, in answer order; `candidates` are the
    answers of a ranking item (see annotation.selectors.candidates_shown)."""
    questions = []
    if schema.rating_scale:
        questions.append(
            Question(
                "rating",
                schema.rating_question or "How good is the conversation?",
                f"a whole number from 1 (lowest) to {schema.rating_scale} (highest)",
                scale=schema.rating_scale,
            )
        )
    if schema.free_text_question:
        questions.append(
            Question("free_text", schema.free_text_question, 'a short text ("" when there is nothing to say)')
        )
    if schema.pairwise_question and pairwise_record(record):
        questions.append(Question("preference", schema.pairwise_question,
                                  '"a" if Answer A is better, "b" if Answer B is better, "tie" if neither is better'))
    if schema.ranking_question and candidates:
        questions.append(Question("ranking", schema.ranking_question,
                                  f"the numbers of all {len(candidates)} answers, best first, each once, as a list",
                                  scale=len(candidates), candidates=tuple(candidates)))
    return questions


# ---------------------------------------------------------------------------------------------------------------
# Prompt


def ai_prompt_fill(*, template: str, record: Record, choices: list[tuple[str, str]], multiple: bool,
                   questions: list[Question] = ()) -> str:
    """The prompt for one record, placeholders filled in one pass (braces inside the texts stay as they are).
    `choices`: (path, description) of every label that may be picked. With a preference question, the record's two
    answers follow the conversation as "Answer A" (the stored chosen one) and "Answer B"; without it a preference
    record shows its chosen answer, as always. {questions} is the labels-only instruction when nothing else is asked."""
    pairwise = any(question.key == "preference" for question in questions)
    ranking = next((question for question in questions if question.key == "ranking"), None)
    messages = list(record.messages or [])
    if record.kind == Record.Kind.PREFERENCE and record.chosen:
        messages = list(record.prompt_messages) if pairwise else [*record.prompt_messages, record.chosen]
    if ranking is not None:
        messages = list(record.prompt_messages)
    lines = [f"{m.get('role', '')}: {m.get('content') or ''}" for m in messages]
    if pairwise:
        lines += [
            f"Answer A: {record.chosen.get('content') or ''}",
            f"Answer B: {record.rejected.get('content') or ''}",
        ]
    if ranking is not None:
        lines += [f"Answer {candidate.number}: {candidate.content}" for candidate in ranking.candidates]
    conversation = "\n".join(lines)
    labels = "\n".join(f"- {path}: {description}" if description else f"- {path}" for path, description in choices)
    example = choices[0][0] if choices else ""
    if multiple and len(choices) > 1:
        example = f"{choices[0][0]}, {choices[1][0]}"
    values = {"conversation": conversation, "labels": labels, "example": example,
              "questions": _questions_text(questions, choices=choices, multiple=multiple, example=example)}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def _questions_text(questions, *, choices, multiple: bool, example: str) -> str:
    if not questions:
        return _LABELS_ONLY_ANSWER.replace("{example}", example)
    labels_ask = ("the labels that fit, one or more, each exactly as written in the list" if multiple
                  else "the one label that fits best, exactly as written in the list")
    # A schema without labels asks only its questions.
    lines = ["[Questions]", f"- labels: {labels_ask}"] if choices else ["[Questions]"]
    lines += [f"- {question.key}: {question.text} Answer: {question.answer_format}." for question in questions]
    picked = [path for path, _ in choices[: 2 if multiple else 1]]
    sample = {"labels": picked} if choices else {}
    sample.update({question.key: _SAMPLES[question.key](question) for question in questions})
    lines += ["", "Answer with one JSON object and nothing else, for example:", json.dumps(sample, ensure_ascii=False)]
    return "\n".join(lines)


_SAMPLES = {
    "rating": lambda question: (question.scale + 1) // 2,
    "free_text": lambda question: "...",
    "preference": lambda question: "a",
    "ranking": lambda question: list(range(1, question.scale + 1)),
}


# ---------------------------------------------------------------------------------------------------------------
# Answer


class AnswerUnusable(Exception):
    """The model's answer does not give what the schema accepts; `reason` says why (and names the field)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AIReading:
    """A usable answer: the label paths and the asked fields by key (e.g. {"rating": 4, "preference": "a"})."""

    label_paths: list[str]
    fields: dict = field(default_factory=dict)


def ai_answer_read(text: str, *, paths: list[str], multiple: bool, leaf_paths: set[str] | None = None,
                   questions: list[Question] = ()) -> AIReading:
    """The labels and the asked fields of an answer; raises AnswerUnusable with the reason otherwise.

    Without questions this is ai_answer_parse. With them, the answer is read as a JSON object (fenced or inside
    prose), else as "key: value" lines, else as labels alone (the asked fields then count as missing). Rating and
    preference must be given; free text may be empty, like a person's. Fields that were not asked are ignored.
    """
    if not questions:
        return AIReading(ai_answer_parse(text, paths=paths, multiple=multiple, leaf_paths=leaf_paths))
    if not (text or "").strip():
        raise AnswerUnusable("empty answer")
    found = _fields_of(text)
    if not paths:
        labels = []  # a schema without labels: only its questions are read
        found = found or {}
    elif found is None:
        labels = ai_answer_parse(text, paths=paths, multiple=multiple, leaf_paths=leaf_paths)
        found = {}
    else:
        labels = ai_answer_parse(
            _labels_text(found.get("labels")), paths=paths, multiple=multiple, leaf_paths=leaf_paths
        )
    return AIReading(
        labels, {question.key: _READERS[question.key](found.get(question.key), question) for question in questions}
    )


_KEYS = {"labels": "labels", "label": "labels", "rating": "rating", "score": "rating", "freetext": "free_text",
         "preference": "preference", "preferred": "preference", "ranking": "ranking", "order": "ranking"}
_KEY_LINE = re.compile(
    r"^\s*(?:[-*•]\s*)?[*_\"'`]*(labels?|rating|score|free[ _-]?text|preference|preferred|ranking|order)[*_\"'`]*"
    r"\s*[:=]\s*(.*)$",
    re.IGNORECASE,
)


def _key(name: str) -> str | None:
    return _KEYS.get(re.sub(r"[^a-z]", "", name.lower()))


def _fields_of(text: str) -> dict | None:
    """The answer's fields by key: from a JSON object (the first "{" to the last "}", else the first whole object), else
    from "key: value" lines (a line without a key continues the value before it; lines before the first key are the
    labels when no line names them); None when the answer has neither."""
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end and not json_too_deep(text):
        try:
            data = json.loads(text[start:end + 1])
        except ValueError:
            try:
                # Two objects, or braces in the prose after it: the first complete object.
                data = json.JSONDecoder().raw_decode(text, start)[0]
            except ValueError:
                data = None
        if isinstance(data, dict):
            return {key: value for name, value in data.items() if (key := _key(str(name)))}
    found: dict[str, str] = {}
    current, lead = None, []
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if match:
            current = _key(match.group(1))
            found[current] = match.group(2).strip()
        elif line.strip() and not line.strip().startswith("```"):
            if current is None:
                lead.append(line)
            else:
                found[current] = f"{found[current]}\n{line.strip()}".strip()
    if found and "labels" not in found and lead:
        # "billing/refund\nRating: 4": the labels came first, without their key.
        found["labels"] = "\n".join(lead)
    return found or None


def _labels_text(value) -> str:
    if value is None or value == "" or value == []:
        raise AnswerUnusable("no label in the answer")
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return json.dumps(value, ensure_ascii=False)
    raise AnswerUnusable(f"labels {_excerpt(json.dumps(value, ensure_ascii=False), 60)!r} are not label paths")


_RATING = re.compile(r"(-?\d+(?:\.\d+)?)\s*(?:(?:/|out of|of)\s*(\d+))?", re.IGNORECASE)


def _rating_read(value, question: Question) -> int:
    if value is None or value == "":
        raise AnswerUnusable("no rating in the answer")
    number = value
    if isinstance(value, str):
        match = _RATING.fullmatch(value.strip(_TRIM + ","))
        if match is None:
            raise AnswerUnusable(f"rating {_excerpt(value, 40)!r} is not a number")
        if match.group(2) and int(match.group(2)) != question.scale:
            raise AnswerUnusable(f"rating {match.group(0)!r} is not on the scale 1..{question.scale}")
        number = float(match.group(1))
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        raise AnswerUnusable(f"rating {_excerpt(json.dumps(value), 40)} is not a number")
    if number != int(number):
        raise AnswerUnusable(f"rating {number:g} is not a whole number")
    if not 1 <= int(number) <= question.scale:
        raise AnswerUnusable(f"rating {int(number)} is outside 1..{question.scale}")
    return int(number)


_TIE = {"tie", "=", "a = b", "a=b", "equal", "equally good", "draw", "same", "both"}
_PICK = re.compile(r"(?:answer|response|option)?\s*([ab])(?:\s+is\s+better)?")


def _preference_read(value, question: Question) -> str:
    if value is None or value == "":
        raise AnswerUnusable("no preference in the answer")
    if isinstance(value, str):
        word = " ".join(value.strip(_TRIM + ",").lower().split())
        if word in _TIE:
            return "tie"
        match = _PICK.fullmatch(word)
        if match:
            return match.group(1)
    raise AnswerUnusable(f"preference {_excerpt(str(value), 40)!r} is not a, b or tie")


def _free_text_read(value, question: Question) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AnswerUnusable(f"free text {_excerpt(json.dumps(value), 40)} is not text")
    text = normalise_text(value).strip()
    if len(text) > MAX_COMMENT_CHARS:
        raise AnswerUnusable(f"free text is longer than {MAX_COMMENT_CHARS} characters")
    return text


_NUMBER = re.compile(r"\d+")


def _ranking_read(value, question: Question) -> list[int]:
    """The item's entry ids, best first, from the answers' numbers: a list ([2, 1, 3], ["Answer 2", ...]) or a text
    ("2 > 1 > 3", "2, 1, 3"). Every answer once; when all but one are named, the last takes the last place."""
    if value is None or value == "" or value == []:
        raise AnswerUnusable("no ranking in the answer")
    if isinstance(value, list):
        pieces = [str(item) for item in value]
    elif isinstance(value, str | int) and not isinstance(value, bool):
        pieces = [str(value)]
    else:
        raise AnswerUnusable(f"ranking {_excerpt(json.dumps(value), 40)} is not a list of answer numbers")
    numbers = [int(found) for piece in pieces for found in _NUMBER.findall(piece)]
    if not numbers:
        raise AnswerUnusable(f"ranking {_excerpt(' '.join(pieces), 40)!r} names no answer number")
    by_number = {candidate.number: candidate.entry_id for candidate in question.candidates}
    for number in numbers:
        if number not in by_number:
            raise AnswerUnusable(f"ranking names answer {number}; there are {question.scale}")
    twice = next((number for i, number in enumerate(numbers) if number in numbers[:i]), None)
    if twice is not None:
        raise AnswerUnusable(f"ranking names answer {twice} twice")
    missing = [number for number in by_number if number not in numbers]
    if len(missing) == 1:
        numbers.append(missing[0])
    elif missing:
        raise AnswerUnusable(f"ranking leaves out answers {', '.join(map(str, missing))}")
    return [by_number[number] for number in numbers]


_READERS = {
    "rating": _rating_read,
    "free_text": _free_text_read,
    "preference": _preference_read,
    "ranking": _ranking_read,
}


# Labels: the lenient reader used since the first AI annotators.

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_PREFIX = re.compile(r"^\s*(?:final\s+)?(?:answer|labels?|category|topic)\s*[:=-]\s*", re.IGNORECASE)
_TRIM = " \t\"'`“”‘’[](){}<>.;:!?*"


def _clean(piece: str) -> str:
    piece = _PREFIX.sub("", _BULLET.sub("", piece.strip()))
    piece = piece.strip(_TRIM)
    # "Billing > Refund", "billing / refund" and "billing.refund"-free forms all mean the path billing/refund.
    piece = re.sub(r"\s*[>/]\s*", "/", piece)
    return " ".join(piece.split()).lower()


def _candidates(text: str) -> list[str]:
    """Label-like pieces of an answer: a JSON string, list, or object with "label"/"labels", else its lines split at
    commas and semicolons."""
    body = _FENCE.sub("", text.strip()).strip()
    try:
        data = None if json_too_deep(body) else json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        data = data.get("labels", data.get("label"))
    if isinstance(data, str):
        data = [data]
    if isinstance(data, list) and data and all(isinstance(x, str) for x in data):
        pieces = data
    else:
        pieces = [part for line in body.splitlines() for part in re.split(r"[,;]", line)]
    return [c for c in (_clean(p) for p in pieces) if c]


def ai_answer_parse(text: str, *, paths: list[str], multiple: bool, leaf_paths: set[str] | None = None) -> list[str]:
    """The label paths an answer names, checked against the schema; raises AnswerUnusable with the reason otherwise.

    `paths`: every label path that may be picked (case is ignored); `leaf_paths`, when given, are the only paths
    allowed (leaf-only schemas), so naming a parent is refused with that reason. A bare label name counts when exactly
    one path ends with it. When the pieces of the answer are not all labels, the answer is searched for full paths as
    words ("The topic is billing/refund."); an answer with no known label is never guessed into one.
    """
    if not (text or "").strip():
        raise AnswerUnusable("empty answer")
    by_lower = {path.lower(): path for path in paths}
    by_name: dict[str, list[str]] = {}
    for path in paths:
        by_name.setdefault(path.rsplit("/", 1)[-1].lower(), []).append(path)
    candidates = _candidates(text)

    def resolve(piece: str) -> str | None:
        if piece in by_lower:
            return by_lower[piece]
        named = by_name.get(piece, [])
        return named[0] if len(named) == 1 else None

    found = [resolve(piece) for piece in candidates]
    if candidates and all(found):
        chosen = list(dict.fromkeys(found))
    else:
        # Free text: the paths written out in it (longest first, so billing/refund is not also read as billing).
        lowered = text.lower()
        chosen = []
        for path in sorted(by_lower, key=len, reverse=True):
            pattern = r"(?<![\w/])" + re.escape(path) + r"(?![\w/])"
            if (
                "/" in path
                and re.search(pattern, lowered)
                and not any(c.lower().startswith(path + "/") for c in chosen)
            ):
                chosen.append(by_lower[path])
        if not chosen:
            unknown = next((piece for piece, hit in zip(candidates, found) if hit is None), "")
            if len(candidates) == 1 and len(unknown) <= 60:
                raise AnswerUnusable(f"unknown label {unknown!r}")
            raise AnswerUnusable(f"no known label in the answer {_excerpt(text)!r}")
        chosen.sort(key=lambda path: lowered.find(path.lower()))
    if not multiple and len(chosen) > 1:
        raise AnswerUnusable(f"one label expected, the answer names {len(chosen)}: {', '.join(chosen)}")
    if leaf_paths is not None:
        parents = [path for path in chosen if path not in leaf_paths]
        if parents:
            raise AnswerUnusable(f"{parents[0]!r} has sub-labels; a more specific label is needed")
    return chosen


def _excerpt(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
