"""Reading import files: bytes on disk → (line the row starts on, parsed row), in constant memory.

`file_rows(path)` finds the encoding (UTF-8 with or without BOM, UTF-16 with or without BOM, GB18030/GBK) and
the container (a JSON array, JSON Lines, CSV, TSV or Parquet), and yields each row with the line it starts on
(for Parquet: the row number). Turning a row into a canonical record is datahub.formats' part.
"""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from common.errors import ApplicationError
from common.json_limits import json_loads, json_too_deep, too_deep_message
from common.text_similarity import CJK

CONTAINERS = ("json", "jsonl", "csv", "tsv", "parquet")

_BINARY_SIGNATURES = {
    b"\x1f\x8b": "a gzip archive",
    b"PK\x03\x04": "a zip archive (or an Excel / Word file)",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format 3": "an SQLite database",
}
_PARQUET_MAGIC = b"PAR1"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"
# Encodings tried, in order, when the head of a file is not UTF-8. GB18030 is a superset of GBK and GB2312.
_LEGACY_ENCODINGS = ("gb18030", "big5", "shift_jis", "euc_kr")
_HEAD_BYTES = 65536
# Nineteen digits in a row: a line that may hold an integer beyond 64 bits. Found as a run of "0" once every digit
# is one, which is five times faster than the regular expression [0-9]{19} and matches the same lines.
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_NUMBER = b"0" * 19


@dataclass
class BadRow:
    """A row that could not be parsed (malformed JSON), yielded instead of raising when reading tolerantly."""

    message: str


@dataclass
class FileRows:
    """An opened import file: its encoding, its container, how many rows it holds, and the rows themselves."""

    encoding: str  # "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "gb18030", ... ("binary" for Parquet)
    container: str  # one of CONTAINERS
    total: int
    rows: Iterator[tuple[int, object]]  # (line the row starts on, parsed row), read lazily


# ---------------------------------------------------------------- the file: encoding and container


def _utf16_without_bom(head: bytes) -> str | None:
    """ASCII-heavy UTF-16 text without a BOM has a zero in every other byte; say which half."""
    sample = head[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) >= 0.6 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.6 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _valid(head: bytes, encoding: str, *, complete: bool) -> bool:
    """Whether `head` decodes; a multi-byte character cut off at the end of a partial head is forgiven."""
    for cut in range(0, 1 if complete else 4):
        try:
            head[:len(head) - cut].decode(encoding)
            return True
        except UnicodeDecodeError:
            continue
    return False


def _encoding(head: bytes, *, complete: bool) -> str:
    for signature, what in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise ApplicationError(f"the file is {what}, not JSON, JSONL, CSV, TSV or Parquet", where="line 1",
                                   code="wrong_file_type")
    if head.startswith(_UTF8_BOM):
        return "utf-8-sig"
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    if b"\x00" in head:
        guess = _utf16_without_bom(head)
        if guess:
            return guess
        raise ApplicationError(
            "the file is binary, not JSON, JSONL, CSV, TSV or Parquet text", where="line 1", code="wrong_file_type"
        )
    if _valid(head, "utf-8", complete=complete):
        return "utf-8"
    for candidate in _LEGACY_ENCODINGS:
        if _valid(head, candidate, complete=complete) and _cjk_share(head, candidate) > 0.2:
            return candidate
    from charset_normalizer import from_bytes

    best = from_bytes(head, cp_isolation=list(_LEGACY_ENCODINGS)).best()
    if best is not None and best.encoding in _LEGACY_ENCODINGS:
        return best.encoding
    # Mostly UTF-8 with a bad byte further in: read as UTF-8 so the bad line is named.
    return "utf-8"


def _cjk_share(head: bytes, encoding: str) -> float:
    """Share of the non-ASCII characters that are CJK: a real GBK file decodes to Chinese, a Latin-1 file to noise."""
    text = head.decode(encoding, errors="ignore")
    wide = [c for c in text if ord(c) > 127]
    if not wide:
        return 0.0
    # CJK letters, and the CJK and full-width punctuation that real Chinese, Japanese or Korean text is full of.
    return sum(1 for c in wide if CJK.match(c) or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef") / len(wide)


def _decode_line(data: bytes, line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApplicationError(
            f"the text is not valid UTF-8 (byte {exc.start + 1} of the line); save the file as UTF-8 or UTF-16",
            where=f"line {line}",
            code="wrong_encoding",
        ) from exc


def _text_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """Lines decoded one at a time, so memory stays flat and a bad UTF-8 byte is reported on its own line.

    Lines end at \\n, \\r\\n or \\r only: str.splitlines would also split on U+2028, which JSON strings may hold.
    """
    if encoding in ("utf-8", "utf-8-sig"):
        with open(path, "rb") as handle:
            for number, data in enumerate(handle, start=1):
                if number == 1 and encoding == "utf-8-sig":
                    data = data[len(_UTF8_BOM):]
                yield number, _decode_line(data, number)
        return
    try:
        with open(path, encoding=encoding, newline="") as handle:
            yield from enumerate(handle, start=1)
    except UnicodeDecodeError as exc:
        raise ApplicationError(f"the file is not valid {encoding} text", where="line 1", code="wrong_encoding") from exc


def _first_char(path: Path, encoding: str) -> tuple[int, str, str]:
    """The line, first non-blank character and first non-blank line of the file; (0, "", "") for a blank file."""
    for number, text in _text_lines(path, encoding):
        stripped = text.strip()
        if stripped:
            return number, stripped[0], text
    return 0, "", ""


def _container(path: Path, first: str, first_line: str, line: int) -> str:
    suffix = path.suffix.lower()
    if first == "[":
        return "json"
    if first == "{":
        return "jsonl"
    if suffix == ".tsv" or (suffix != ".csv" and "\t" in first_line):
        return "tsv"
    if suffix == ".csv" or "," in first_line:
        return "csv"
    raise ApplicationError(
        f"the file is not JSON, JSONL, CSV or TSV: it starts with {first!r}, where a JSON array '[', a JSON object "
        f"'{{' "
        "or a header row should be",
        where=f"line {line}",
        code="wrong_file_type",
    )


def file_rows(path: Path, *, container: str | None = None, tolerant: bool = False) -> FileRows:
    """Open an import file; raise ApplicationError when it is none of the containers this reads.

    `container` overrides detection (one of CONTAINERS). JSONL, CSV, TSV and Parquet are counted in one pass
    and then read row by row, so memory stays flat however long the file is (a JSON array too, see _json_array).
    With `tolerant`, a malformed JSONL line is yielded as a BadRow instead of stopping the file.
    """
    if container is not None and container not in CONTAINERS:
        raise ApplicationError(
            f"unknown container {container!r}; choose one of {', '.join(CONTAINERS)}", where="container"
        )
    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES)
        complete = not handle.read(1)
    if not head:
        raise ApplicationError("the file is empty", where="line 1", code="empty_file")
    if container == "parquet" or (container is None and head.startswith(_PARQUET_MAGIC)):
        return _parquet_rows(path)
    encoding = _encoding(head, complete=complete)
    line, first, first_line = _first_char(path, encoding)
    if not first:
        raise ApplicationError("the file is empty", where="line 1", code="empty_file")
    container = container or _container(path, first, first_line, line)
    if container == "json":
        # Counting reads the array once (and finds malformed JSON before any row is imported); rows reads it again.
        total = sum(1 for _ in _json_array(path, encoding))
        return FileRows(encoding=encoding, container="json", total=total, rows=_json_array(path, encoding))
    if container in ("csv", "tsv"):
        delimiter = "\t" if container == "tsv" else ","
        total = sum(1 for _ in _table_rows(path, encoding, delimiter))
        if not total:
            raise ApplicationError("the table has a header but no rows", where="line 2", code="empty_file")
        return FileRows(
            encoding=encoding, container=container, total=total, rows=_table_rows(path, encoding, delimiter)
        )
    total = sum(1 for _, text in _text_lines(path, encoding) if text.strip())
    return FileRows(encoding=encoding, container="jsonl", total=total, rows=_jsonl_rows(path, encoding, tolerant))


def _cell(value: str, line: int):
    """A table cell: JSON lists and objects (a messages column) are parsed, true/false become booleans, text stays
    text."""
    stripped = value.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json_loads(stripped, where=f"line {line}")
        except json.JSONDecodeError:
            return value
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    return value


def _table_rows(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, dict]]:
    lines = (text for _, text in _text_lines(path, encoding))
    reader = csv.reader(lines, delimiter=delimiter)
    header, start = None, 1
    for cells in reader:
        if header is None:
            header = [name.strip() for name in cells]
            start = reader.line_num + 1
            continue
        if any(c.strip() for c in cells):
            if len(cells) > len(header):
                raise ApplicationError(f"the row has {len(cells)} cells but the header names {len(header)} columns",
                                       where=f"line {start}")
            yield start, {name: _cell(value, start) for name, value in zip(header, cells) if name}
        start = reader.line_num + 1


def _parquet_rows(path: Path) -> FileRows:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own errors for damaged files
        raise ApplicationError(
            f"the Parquet file cannot be read: {exc}", where="line 1", code="wrong_file_type"
        ) from exc
    total = table.metadata.num_rows
    if not total:
        raise ApplicationError("the Parquet file has no rows", where="line 1", code="empty_file")

    def rows() -> Iterator[tuple[int, dict]]:
        number = 0
        for batch in table.iter_batches(batch_size=2000):
            for row in batch.to_pylist():
                number += 1
                yield number, row

    return FileRows(encoding="binary", container="parquet", total=total, rows=rows())


def _json_array(path: Path, encoding: str) -> Iterator[tuple[int, object]]:
    """Parse a JSON array element by element, remembering the line each element starts on.

    Streamed: the text is read in blocks, and the buffer holds the unread part of the current block plus one
    element, so memory stays flat however long the array is (an element cut by a block's end is decoded again
    once the next block is in). Errors name the line in the whole file.
    """
    try:
        yield from _JsonArrayStream(path, encoding).rows()
    except UnicodeDecodeError:
        _whole_text(path, encoding)  # reads the whole file only to name the bad line; raises ApplicationError
        raise


class _JsonArrayStream:
    BLOCK = 1 << 20  # characters read at a time

    def __init__(self, path: Path, encoding: str):
        self.handle = open(path, encoding=encoding, newline="")
        self.text, self.position, self.eof = "", 0, False
        self.line = 1  # the line `position` is on
        self.base_line = 1  # the line text[0] is on
        self.decoder = json.JSONDecoder()

    def more(self) -> bool:
        """Append the next block, first dropping what was read up to the last whole line before `position`."""
        if self.eof:
            return False
        cut = self.text.rfind("\n", 0, self.position) + 1
        if cut:
            self.base_line += self.text.count("\n", 0, cut)
            self.text, self.position = self.text[cut:], self.position - cut
        block = self.handle.read(self.BLOCK)
        self.eof = not block
        self.text += block
        return bool(block)

    def skip_space(self) -> None:
        while True:
            at, text = self.position, self.text
            end = at
            while end < len(text) and text[end] in " \t\r\n":
                end += 1
            self.line += text.count("\n", at, end)
            self.position = end
            if end < len(text) or not self.more():
                return

    def peek(self) -> str:
        if self.position >= len(self.text):
            self.more()
        return self.text[self.position] if self.position < len(self.text) else ""

    def rows(self) -> Iterator[tuple[int, object]]:
        with self.handle:
            self.more()
            self.skip_space()
            if self.peek() != "[":
                raise ApplicationError("malformed JSON: the file does not start with '['", where=f"line {self.line}",
                                       code="malformed_json")
            self.position += 1
            self.skip_space()
            if self.peek() == "]":
                raise ApplicationError(
                    "the file holds an empty array: there are no rows to import",
                    where=f"line {self.line}",
                    code="empty_file",
                )
            while True:
                value, end = self.element()
                yield self.line, value
                self.line += self.text.count("\n", self.position, end)
                self.position = end
                self.skip_space()
                following = self.peek()
                if not following:
                    raise ApplicationError(
                        "malformed JSON: the array is not closed with ']'",
                        where=f"line {self.line}",
                        code="malformed_json",
                    )
                if following == "]":
                    break
                if following != ",":
                    raise ApplicationError(f"malformed JSON: expected ',' or ']' after a row, found {following!r}",
                                           where=f"line {self.line}", code="malformed_json")
                self.position += 1
                self.skip_space()
            self.position += 1
            self.skip_space()
            if self.position < len(self.text):
                raise ApplicationError("malformed JSON: there is text after the closing ']'", where=f"line {self.line}",
                                       code="malformed_json")

    def element(self) -> tuple[object, int]:
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.position)
            except RecursionError:
                raise ApplicationError(too_deep_message(), where=f"line {self.line}", code="too_deep") from None
            except json.JSONDecodeError as exc:
                if not self.eof:
                    # An element cut off by the end of the buffer decodes once the next block is in.
                    self.more()
                    continue
                raise ApplicationError(f"malformed JSON: {exc.msg} (column {exc.colno})",
                                       where=f"line {self.base_line + exc.lineno - 1}", code="malformed_json") from exc
            if json_too_deep(self.text[self.position:end]):
                raise ApplicationError(too_deep_message(), where=f"line {self.line}", code="too_deep")
            return value, end


def _whole_text(path: Path, encoding: str) -> str:
    data = path.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding not in ("utf-8", "utf-8-sig"):
            raise ApplicationError(
                f"the file is not valid {encoding} text", where="line 1", code="wrong_encoding"
            ) from exc
        line = data.count(b"\n", 0, exc.start) + 1
        raise ApplicationError("the text is not valid UTF-8; save the file as UTF-8 or UTF-16", where=f"line {line}",
                               code="wrong_encoding") from exc


def _jsonl_rows(path: Path, encoding: str, tolerant: bool = False) -> Iterator[tuple[int, object]]:
    if encoding not in ("utf-8", "utf-8-sig"):
        for number, text in _text_lines(path, encoding):
            yield from _jsonl_row(path, encoding, tolerant, number, text)
        return
    for number, data in jsonl_raw_lines(path, encoding):
        yield number, jsonl_line_parse(path, encoding, tolerant, number, data)


def jsonl_raw_lines(path: Path, encoding: str) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a UTF-8 JSONL file as bytes, with their numbers: one per row, not parsed yet."""
    with open(path, "rb") as handle:
        for number, data in enumerate(handle, start=1):
            if number == 1 and encoding == "utf-8-sig":
                data = data[len(_UTF8_BOM):]
            stripped = data.strip()
            # A line of only Unicode spaces (U+3000 …) is blank too, as the row count sees it.
            if stripped and (stripped[0] < 0x80 or data.decode("utf-8", "replace").strip()):
                yield number, data


def jsonl_line_parse(path: Path, encoding: str, tolerant: bool, number: int, data: bytes):
    """One UTF-8 JSONL line → its row (or a BadRow when tolerant); a line of only Unicode spaces → None.

    orjson parses the bytes as they are; whatever it refuses (a bad byte, malformed JSON, NaN, lone surrogates) goes
    the json module's way, which accepts or names the error, and so do lines with a long digit run (orjson would
    read an integer beyond 64 bits as a float).
    """
    if json_too_deep(data):
        return _too_deep(tolerant, number)
    if _LONG_NUMBER not in data.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    for _, row in _jsonl_row(path, encoding, tolerant, number, _decode_line(data, number)):
        return row
    return None


def _too_deep(tolerant: bool, number: int):
    """What a row nested past the limit is: a bad row in a tolerant import, else the import's error."""
    if tolerant:
        return BadRow(too_deep_message())
    raise ApplicationError(too_deep_message(), where=f"line {number}", code="too_deep")


def _jsonl_row(path: Path, encoding: str, tolerant: bool, number: int, text: str) -> Iterator[tuple[int, object]]:
    if not text.strip():
        return
    if json_too_deep(text):
        yield number, _too_deep(tolerant, number)
        return
    try:
        yield number, json.loads(text)
    except json.JSONDecodeError as exc:
        if tolerant and number > 1:
            yield number, BadRow(f"malformed JSON: {exc.msg} (column {exc.colno})")
            return
        if number == 1 and _whole_file_is_one_object(path, encoding):
            raise ApplicationError(
                "the file holds one JSON object; expected an array of rows, or one row per line (JSONL)",
                where="line 1",
                code="wrong_file_type",
            ) from exc
        raise ApplicationError(f"malformed JSON: {exc.msg} (column {exc.colno})", where=f"line {number}",
                               code="malformed_json") from exc


def _whole_file_is_one_object(path: Path, encoding: str) -> bool:
    try:
        return isinstance(json.loads("".join(text for _, text in _text_lines(path, encoding))), dict)
    except (json.JSONDecodeError, ApplicationError):
        return False
