"""The fast paths of canonicalisation write exactly what the plain ones write, so content and prompt hashes of
records imported before and after them stay equal."""

import json
import re
import unicodedata

import orjson
import pytest

from common.text_similarity import _PUNCTUATION, _SPACE, normalised_text
from datahub import canonical, files
from datahub.canonical import canonical_checked, prompt_hash

VALUES = [
    {"b": 1, "a": [1.5, 2, "x\u2028y\n\t\"\\", None, True, False]},
    "中文 and ünïcödé",
    {"z": {"y": 1e16, "x": -0.0, "w": 2**63 + 1}},
    "control \x01\x1f\x7f",
    {"tool_calls": [{"function": {"arguments": "{\"a\": 1}", "name": "f"}, "id": "call_0", "type": "function"}]},
]


@pytest.mark.parametrize("value", VALUES)
def test_compact_json_is_the_json_modules(value):
    assert canonical._compact(value) == json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def test_a_lone_surrogate_is_refused_not_written():
    with pytest.raises(canonical.ApplicationError) as refused:
        canonical._compact([{"role": "user", "content": "lone \ud800 surrogate"}])
    assert refused.value.code == "lone_surrogate"


class OrjsonRefusing:
    """orjson refusing every value: each one then goes the json module's way, as a value orjson cannot take does."""

    OPT_SORT_KEYS = orjson.OPT_SORT_KEYS
    JSONDecodeError = orjson.JSONDecodeError

    @staticmethod
    def dumps(value, option=None):
        raise TypeError("refused")

    @staticmethod
    def loads(data):
        raise orjson.JSONDecodeError("refused", "", 0)


def test_hashes_do_not_depend_on_orjson(monkeypatch):
    row = {
        "kind": "preference",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Héllo, World!"}],
        "chosen": {"role": "assistant", "content": "Hi."},
        "rejected": {"role": "assistant", "content": "Go away."},
    }
    fast = canonical_checked(row)
    monkeypatch.setattr(canonical, "orjson", OrjsonRefusing)
    assert canonical_checked(row) == fast


def _normalised_text_plain(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCTUATION.sub(" ", text)).strip()


def test_the_ascii_prompt_key_equals_the_regular_expression_one():
    characters = [chr(c) for c in range(128)]
    for first in characters:
        for second in characters:
            text = f"{first}A b{second}"
            assert normalised_text(text) == _normalised_text_plain(text), repr(text)
    assert normalised_text(" What's  2+2?\t") == "what s 2 2"
    assert re.fullmatch(r"[0-9a-f]{64}", prompt_hash({"kind": "sft", "messages": [{"role": "user", "content": "Hi"}]}))


def test_jsonl_rows_are_the_same_without_orjson(write_file, monkeypatch):
    path = write_file("a.jsonl", '{"a": 1}\n\n{"b": "\\ud800", "c": NaN}\n{"d": 123456789012345678901234567890}\n')
    fast = list(files.file_rows(path).rows)
    monkeypatch.setattr(files, "orjson", OrjsonRefusing)
    plain = list(files.file_rows(path).rows)
    assert repr(fast) == repr(plain)
    assert [line for line, _ in fast] == [1, 3, 4]
