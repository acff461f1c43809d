"""How deep JSON from outside may nest.

Python's json module, and every piece of code that walks a parsed value (hashing, serializers, json.dumps into a
JSONField), recurses once per level: past about a thousand levels that is a RecursionError, a crash instead of an
answer. So everything that reads JSON a user sent (request bodies, JSON inside form fields, imported files) asks
`json_too_deep` first. Real chat data nests a dozen levels at most (tool-call arguments with a JSON schema included).
"""

import json
import re

import numpy as np

MAX_DEPTH = 64

# A JSON string, escapes included; brackets inside strings do not nest anything.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(data: bytes | str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (0 for a scalar). Linear, no recursion; the text need
    not be valid JSON (an unterminated string counts as ending the text)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max(initial=0))


def json_too_deep(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> bool:
    """Whether the text nests deeper than max_depth. Cheap for ordinary text: only a text with more opening brackets
    than the limit is looked at closely."""
    opens = data.count("[") + data.count("{") if isinstance(data, str) else data.count(b"[") + data.count(b"{")
    return opens > max_depth and json_depth(data) > max_depth


def too_deep_message(max_depth: int = MAX_DEPTH) -> str:
    return f"the JSON nests deeper than {max_depth} levels, the limit"


def json_loads(text: str | bytes, *, where: str = ""):
    """json.loads for text a user sent: too deep is an ApplicationError at `where`; malformed text raises
    json.JSONDecodeError as json.loads does, for the caller to word."""
    from common.errors import ApplicationError

    if json_too_deep(text):
        raise ApplicationError(too_deep_message(), where=where, code="too_deep")
    return json.loads(text)
