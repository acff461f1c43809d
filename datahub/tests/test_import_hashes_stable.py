"""What the import's faster paths must not change: content and prompt hashes (records imported before and after a
change must deduplicate against each other), where an error points, and which lines keep integers beyond 64 bits."""

import json
from pathlib import Path

import pytest

from common.errors import ApplicationError
from datahub.canonical import canonical_checked, content_hash, prompt_hash
from datahub.files import jsonl_line_parse

# (row, content hash, prompt hash), as the import wrote them before its fast paths.
HASHED = [
    (
        {
            "kind": "sft",
            "messages": [
                {"role": "user", "content": "How do I return order 7?"},
                {"role": "assistant", "content": "Open your orders."},
            ],
        },
        "c81ee34ded86af5d3f04c5407cad3bf952fdaaa092cfdecd3661ab761a9f0ceb",
        "fdd01c3cbb3460deee26c3f89f013518c3059ee4c4c5fd928502627bea21b8a3",
    ),
    (
        {
            "kind": "sft",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": " What's\x1c2+2?\t\x0b(ok)_x "},
                {"role": "assistant", "content": "4"},
            ],
        },
        "fe14783c2be79884ad76235ba7485c9225afe0f521da797878ba4350cb2d8c27",
        "9ee504cce68689cc6fc314abf0f1751502bf9bff0017fffe279620d979b9079d",
    ),
    (
        {
            "kind": "sft",
            "messages": [
                {"role": "user", "content": "Ｈéllo, 世界!\r\nNew line"},
                {"role": "assistant", "content": "你好"},
            ],
            "tools": [{"type": "function", "function": {"name": "f"}}],
        },
        "ba9e4040b5aae398011b74890e075e8c7489b5621d8f3689cc546e5380bf13bd",
        "ac3e30331b437be42cfea5690116d7a0e654830279da70008b4e4b3f38fa81f9",
    ),
    (
        {
            "kind": "preference",
            "messages": [{"role": "user", "content": "Pick one."}],
            "chosen": {"role": "assistant", "content": "A"},
            "rejected": {"role": "assistant", "content": "B"},
        },
        "6ce7fa7626e3a403cd35906bd858d73e8fa3209780dff8815d6fa4fbc736078d",
        "51f53947318ef3662d91abf55a184e4c10fe39f9f3df6e40ab4cfb2d1d73e55c",
    ),
    (
        {
            "kind": "kto",
            "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
            "label": False,
        },
        "efefc45eb08975529f1c1cd87f1e00f566fad0b3390d9c9ca7ced997985325bd",
        "80e2a72672ff27c2e0e49a77268d65b6ddce177702d20d7df0c63a4bcf10540d",
    ),
]


@pytest.mark.parametrize(("row", "expected_content", "expected_prompt"), HASHED)
def test_hashes_are_the_ones_earlier_imports_wrote(row, expected_content, expected_prompt):
    clean, parts = canonical_checked(row)
    hashes = (content_hash(clean, parts=parts), content_hash(clean), prompt_hash(clean))
    assert hashes == (expected_content, expected_content, expected_prompt)


def _user(text):
    return {"role": "user", "content": text}


def _assistant(text):
    return {"role": "assistant", "content": text}


@pytest.mark.parametrize(
    ("row", "where", "message"),
    [
        (
            {"messages": [_user("a"), {"role": "bot", "content": "b"}]},
            "line 3, messages[1].role",
            "unknown role 'bot'; expected one of system, user, assistant, tool",
        ),
        (
            {"messages": [_user("a"), {"role": "assistant", "content": 3}]},
            "line 3, messages[1].content",
            "content must be text",
        ),
        ({"messages": [_user("a"), {"role": "assistant"}]}, "line 3, messages[1].content", "message has no content"),
        (
            {"messages": [_user("a"), "text"]},
            "line 3, messages[1]",
            "a message must be an object with role and content",
        ),
        (
            {"messages": [_user("a"), {"role": "system", "content": "s"}, _assistant("b")]},
            "line 3, messages",
            "a system message may only come first",
        ),
        (
            {"messages": [{"role": "system", "content": "s"}]},
            "line 3, messages",
            "the first turn after the system prompt must be the user's",
        ),
        (
            {"messages": [{"role": "system", "content": "s"}, _assistant("b")]},
            "line 3, messages",
            "the first turn after the system prompt must be the user's",
        ),
        (
            {"kind": "preference", "messages": [_user("a")], "chosen": _user("x"), "rejected": _assistant("y")},
            "line 3, chosen.role",
            "the chosen answer must be an assistant message, not 'user'",
        ),
        (
            {"kind": "preference", "messages": [_user("a")], "chosen": "x", "rejected": _assistant("y")},
            "line 3, chosen",
            "a message must be an object with role and content",
        ),
    ],
)
def test_errors_say_where_they_are(row, where, message):
    with pytest.raises(ApplicationError) as raised:
        canonical_checked(row, where="line 3, ")
    assert (raised.value.where, raised.value.message) == (where, message)


@pytest.mark.parametrize("line", [
    b'{"a": 123456789012345678}',  # 18 digits: orjson's
    b'{"a": 1234567890123456789}',  # 19
    b'{"a": 18446744073709551617}',  # 2**64 + 1
    b'{"a": -99999999999999999999999, "b": 1.5}',
    b'{"a": "0123456789012345678", "b": 12345678901234567890123}',
    b'{"a": 123456789.0123456789, "b": 1234567890123456789e2}',
    b'{"a": [1234567890, 123456789012345678901], "b": "x"}',
])
def test_a_jsonl_line_reads_as_the_json_module_reads_it(line):
    parsed = jsonl_line_parse(Path("a.jsonl"), "utf-8", False, 1, line + b"\n")
    expected = json.loads(line)
    assert (parsed, repr(parsed)) == (expected, repr(expected))
