"""JSON arrays are read in blocks: the rows, their line numbers and the errors do not depend on where blocks end."""

import json

import pytest

from common.errors import ApplicationError
from datahub import files as formats
from datahub.files import file_rows


def rows_of(path):
    opened = file_rows(path)
    return opened.total, list(opened.rows)


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64])
def test_rows_and_lines_are_the_same_for_any_block_size(write_file, monkeypatch, block):
    rows = [
        {"instruction": f"Question {i} with \\n, [brackets], {{braces}} and \"quotes\"", "output": "答案 " * i}
        for i in range(6)
    ]
    path = write_file("a.json", "\n" + json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    expected = rows_of(path)
    monkeypatch.setattr(formats._JsonArrayStream, "BLOCK", block)
    assert rows_of(path) == expected
    assert expected[0] == 6
    assert [line for line, _ in expected[1]] == [3, 7, 11, 15, 19, 23]


@pytest.mark.parametrize("block", [2, 5, 1 << 20])
def test_a_malformed_element_is_named_by_its_line_in_the_file(write_file, monkeypatch, block):
    monkeypatch.setattr(formats._JsonArrayStream, "BLOCK", block)
    path = write_file(
        "bad.json", '[\n  {"instruction": "a", "output": "b"},\n\n  {"instruction": "c" "output": "d"}\n]\n'
    )
    with pytest.raises(ApplicationError) as caught:
        file_rows(path)
    assert (caught.value.where, caught.value.message) == (
        "line 4",
        "malformed JSON: Expecting ',' delimiter (column 23)",
    )


def test_the_buffer_stays_small_however_long_the_array(write_file, monkeypatch):
    monkeypatch.setattr(formats._JsonArrayStream, "BLOCK", 1000)
    row = {"instruction": "q" * 100, "output": "a" * 100}
    path = write_file("long.json", "[" + ",\n".join(json.dumps(row) for _ in range(5000)) + "]")
    stream = formats._JsonArrayStream(path, "utf-8")
    longest = 0
    for _ in stream.rows():
        longest = max(longest, len(stream.text))
    assert longest < 2500  # one block and the part of a row it cut, not the 1.1 MB file
