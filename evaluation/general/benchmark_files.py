"""Reading multiple-choice benchmark files: MMLU, CMMLU and C-Eval CSV, and a JSONL form.

Django-free. Every bad row is refused with the file, line and field that are wrong (ApplicationError.where).

- MMLU CSV: no header; `question, A, B, C, D, answer` (answer a letter). Subject: the file name without `_test`,
  `_dev` or `_val` (`marketing_test.csv` → marketing).
- CMMLU CSV: header `,Question,A,B,C,D,Answer` (column 0 an unnamed row index).
- C-Eval CSV: header `id,question,A,B,C,D,answer[,explanation]`.
- JSONL: one object a line: `question`, `choices` (a list of 2 to 26 strings) or `A`…`D`, `answer` (a letter or a
  0-based index), optional `subject` (default: the file name) and `style` ("mmlu", "cmmlu" or "ceval"; default mmlu).

The style decides the prompt (English `Answer:` or Chinese `答案：`, and the subject description): see prompts.py.
"""

import csv
import io
import string
from dataclasses import dataclass, field
from pathlib import PurePath

from common.errors import ApplicationError
from common.json_limits import json_loads

STYLES = ("mmlu", "cmmlu", "ceval")
LETTERS = string.ascii_uppercase
_SUFFIXES = ("_test", "_dev", "_val", "_validation")
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class ChoiceItem:
    """One multiple-choice question. `gold` indexes `choices`; `where` is the file and line it came from."""

    subject: str
    style: str
    question: str
    choices: tuple[str, ...]
    gold: int
    where: str = field(default="", compare=False)


def subject_of(file_name: str) -> str:
    stem = PurePath(file_name).stem
    for suffix in _SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def _text(data: bytes, name: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise ApplicationError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB", where=name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ApplicationError("the file is not UTF-8 text", where=f"{name}, line {line}") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ApplicationError("the file contains a NUL character", where=f"{name}, line {line}")
    return text


def _answer_index(value, *, count: int, where: str) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, int) and 0 <= value < count:
        return value
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip().upper() in LETTERS[:count]:
        return LETTERS.index(value.strip().upper())
    raise ApplicationError(f"the answer must be one of {', '.join(LETTERS[:count])}, got {value!r}", where=where)


def _item(*, subject: str, style: str, question, choices: list, answer, where: str, fields: list[str]) -> ChoiceItem:
    if not isinstance(question, str) or not question.strip():
        raise ApplicationError("the question is empty", where=f"{where}, field {fields[0]}")
    for name, choice in zip(fields[1:-1], choices, strict=True):
        if not isinstance(choice, str) or not choice.strip():
            raise ApplicationError("the option is empty", where=f"{where}, field {name}")
    gold = _answer_index(answer, count=len(choices), where=f"{where}, field {fields[-1]}")
    return ChoiceItem(subject=subject, style=style, question=question, choices=tuple(choices), gold=gold, where=where)


def _csv_items(text: str, name: str) -> list[ChoiceItem]:
    reader = csv.reader(io.StringIO(text, newline=""))
    subject = subject_of(name)
    items: list[ChoiceItem] = []
    style = None
    line = 1
    try:
        for row in reader:
            where, line = f"{name}, line {line}", reader.line_num + 1
            if style is None:
                header = [cell.strip() for cell in row]
                if header[1:7] == ["Question", "A", "B", "C", "D", "Answer"]:
                    style = "cmmlu"
                    continue
                if [cell.lower() for cell in header[:7]] == ["id", "question", "a", "b", "c", "d", "answer"]:
                    style = "ceval"
                    continue
                style = "mmlu"
            if not any(cell.strip() for cell in row):
                continue
            if style == "mmlu":
                if len(row) != 6:
                    raise ApplicationError(
                        f"an MMLU row has 6 fields (question, A, B, C, D, answer), this one has {len(row)}", where=where
                    )
                items.append(_item(subject=subject, style=style, question=row[0], choices=row[1:5], answer=row[5],
                                   where=where, fields=["question", "A", "B", "C", "D", "answer"]))
            elif style == "cmmlu":
                if len(row) != 7:
                    raise ApplicationError(
                        f"a CMMLU row has 7 fields (index, Question, A, B, C, D, Answer), this one has {len(row)}",
                        where=where,
                    )
                items.append(_item(subject=subject, style=style, question=row[1], choices=row[2:6], answer=row[6],
                                   where=where, fields=["Question", "A", "B", "C", "D", "Answer"]))
            else:
                if len(row) < 7:
                    raise ApplicationError(
                        f"a C-Eval row has at least 7 fields (id, question, A, B, C, D, answer), not {len(row)}",
                        where=where,
                    )
                items.append(_item(subject=subject, style=style, question=row[1], choices=row[2:6], answer=row[6],
                                   where=where, fields=["question", "A", "B", "C", "D", "answer"]))
    except csv.Error as error:
        raise ApplicationError(f"the CSV cannot be read: {error}", where=f"{name}, line {line}") from None
    return items


def _jsonl_items(text: str, name: str) -> list[ChoiceItem]:
    items = []
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{name}, line {number}"
        if not raw.strip():
            continue
        try:
            row = json_loads(raw, where=where)
        except ValueError as error:
            raise ApplicationError(f"the line is not JSON: {error}", where=where) from None
        if not isinstance(row, dict):
            raise ApplicationError("each line must be a JSON object", where=where)
        style = row.get("style", "mmlu")
        if style not in STYLES:
            raise ApplicationError(
                f"the style must be one of {', '.join(STYLES)}, got {style!r}", where=f"{where}, field style"
            )
        if "choices" in row:
            choices = row["choices"]
            if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS):
                raise ApplicationError("choices must be a list of 2 to 26 options", where=f"{where}, field choices")
            fields = ["question", *(f"choices[{i}]" for i in range(len(choices))), "answer"]
        else:
            missing = [letter for letter in "ABCD" if letter not in row]
            if missing:
                raise ApplicationError("give the options as choices: [...] or as A, B, C and D",
                                       where=f"{where}, field {missing[0]}")
            choices = [row[letter] for letter in "ABCD"]
            fields = ["question", "A", "B", "C", "D", "answer"]
        subject = row.get("subject", subject_of(name))
        if not isinstance(subject, str) or not subject.strip():
            raise ApplicationError("the subject must be a non-empty text", where=f"{where}, field subject")
        if "answer" not in row:
            raise ApplicationError("the answer is missing", where=f"{where}, field answer")
        items.append(_item(subject=subject.strip(), style=style, question=row.get("question"), choices=choices,
                           answer=row["answer"], where=where, fields=fields))
    return items


def benchmark_file_read(*, name: str, data: bytes) -> list[ChoiceItem]:
    """The questions in one file, in file order; ApplicationError naming the line and field of the first bad row."""
    text = _text(data, name)
    items = _jsonl_items(text, name) if name.lower().endswith((".jsonl", ".json")) else _csv_items(text, name)
    if not items:
        raise ApplicationError("the file holds no questions", where=name)
    return items
