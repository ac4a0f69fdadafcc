"""Values shared by the dialect normalizers: tool arguments and results, numbers.

Two calls are "the same" when their argument keys are equal. The key is built from the
parsed arguments, so JSON key order and whitespace do not matter; the volatile ids that
some instrumentations embed (call ids, LangGraph checkpoint ids, run ids) are removed
and the callback envelopes they wrap arguments in (OpenLLMetry's ``{"input_str",
"inputs", "metadata", ...}``, smolagents' ``{"args", "kwargs"}``) are opened first.
"""

from __future__ import annotations

import ast
import json
import json.scanner
import re
from collections.abc import Hashable, Mapping
from typing import Any

# Keys that differ between two otherwise identical calls.
_VOLATILE_KEYS = frozenset({
    "tool_call_id",
    "call_id",
    "run_id",
    "parent_run_id",
    "checkpoint_ns",
    "checkpoint_id",
    "callbacks",
    "run_manager",
})
_VOLATILE_PREFIXES = ("langgraph_",)
# Walking a parsed value in Python costs more than parsing it; most arguments hold no
# volatile key at all, which one scan of the text tells.
_MAY_HOLD_VOLATILE = re.compile("[\"'](?:" + "|".join(sorted(_VOLATILE_KEYS)) + "|langgraph_)")
# The C scanner behind json.loads, called directly: json.loads wraps it in two Python
# calls and a regex that together cost more than the scan, on every tool span.
_DECODER: Any = json.JSONDecoder()  # typeshed types make_scanner's argument as the scanner
_scan_json = json.scanner.make_scanner(_DECODER)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            default=str)
_SMOLAGENTS_ENVELOPE = frozenset({"args", "kwargs", "sanitize_inputs_outputs"})
# Beyond this size a value is compared as given instead of parsed: parsing is not free
# and a repeated multi-megabyte argument is equal byte for byte anyway.
_PARSE_LIMIT = 64 * 1024
_MAX_DEPTH = 32


def tool_arguments(value: Any) -> tuple[Any, Hashable | None]:
    """``(arguments, key)`` for tool arguments given as JSON text, a Python literal or a value.

    ``arguments`` is the parsed value with envelopes opened and volatile ids removed (or
    the trimmed text when it is not JSON); ``key`` is a hashable form of it in which key
    order does not matter. ``(None, None)`` when there were no arguments.
    """
    if value is None:
        return None, None
    parsed = _parse(value)
    if isinstance(parsed, str):
        text = parsed.strip()
        return text, text
    opened = _open_argument_envelope(parsed)
    if not isinstance(value, str) or (_may_hold_volatile(value)
                                       and _MAY_HOLD_VOLATILE.search(value) is not None):
        opened = _strip_volatile(opened, 0)
    return opened, freeze(opened)


def _may_hold_volatile(text: str) -> bool:
    """A quick look before the regex: each volatile key has one of these in it (a test
    checks it), and most arguments have none."""
    return ("_id" in text or "_ns" in text or "callbacks" in text or "run_manager" in text
            or "langgraph_" in text)


def freeze(value: Any, depth: int = 0) -> Hashable:
    """A hashable form of a JSON value in which the order of object keys does not matter.

    Cheaper than re-encoding as sorted JSON, which matters on every tool span. Like any
    Python equality, it takes ``1``, ``1.0`` and ``true`` as equal.
    """
    # type() first: most values are plain dicts, and the Mapping check is an ABC lookup.
    if type(value) is dict or isinstance(value, Mapping):
        try:
            return frozenset(value.items())  # the common case: flat arguments
        except TypeError:  # a nested list or object
            if depth > _MAX_DEPTH:
                return _dump(value)
            return frozenset((key, freeze(item, depth + 1)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        if depth > _MAX_DEPTH:
            return _dump(value)
        return tuple(freeze(item, depth + 1) for item in value)
    if isinstance(value, Hashable):
        return value
    return _dump(value)


def canonical_result(value: Any) -> str | None:
    """Canonical text of a tool result: message envelopes opened, ids removed."""
    if value is None:
        return None
    parsed = _parse(value)
    if isinstance(parsed, str):
        return parsed.strip()
    return _dump(_strip_volatile(_open_result_envelope(parsed, 0), 0))


def to_int(value: Any) -> int | None:
    """An integer from an attribute value that may be an int, a float or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value else None  # NaN is not a count
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except (ValueError, OverflowError):
            return None
    return None


def to_str(value: Any) -> str | None:
    """A string attribute, or None for anything else (including empty strings)."""
    if isinstance(value, str) and value:
        return value
    return None


def _parse(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text or len(text) > _PARSE_LIMIT or text[0] not in "{[(\"":
        return text
    try:
        parsed, end = _scan_json(text, 0)
        if end != len(text):  # text after the value: not one JSON document
            raise ValueError(text)
    except (ValueError, StopIteration):
        try:
            # LangChain passes str(dict) as the tool input string: a Python literal.
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return text
    if isinstance(parsed, str) and parsed.strip()[:1] in ("{", "["):
        return _parse(parsed)  # doubly encoded
    return parsed


def _open_argument_envelope(value: Any) -> Any:
    if type(value) is not dict and not isinstance(value, Mapping):
        return value
    keys = value.keys()
    # OpenLLMetry's tool payload: {"input_str", "tags", "metadata", "inputs", "kwargs"}.
    if "input_str" in keys and ("metadata" in keys or "inputs" in keys):
        inputs = value.get("inputs")
        if isinstance(inputs, Mapping) and inputs:
            return dict(inputs)
        return _parse(value.get("input_str"))
    # A chain payload: {"inputs", "tags", "metadata", "kwargs"}.
    if "inputs" in keys and "metadata" in keys:
        return value.get("inputs")
    # smolagents (through OpenInference): {"args": [...], "kwargs": {...}, "sanitize_...": b}.
    if "kwargs" in keys and "args" in keys and keys <= _SMOLAGENTS_ENVELOPE:
        args, kwargs = value.get("args") or [], value.get("kwargs") or {}
        if not isinstance(kwargs, Mapping):
            return value
        return {"args": list(args), **kwargs} if args else dict(kwargs)
    return value


def _open_result_envelope(value: Any, depth: int) -> Any:
    if not isinstance(value, Mapping) or depth > 4:
        return value
    keys = value.keys()
    # LangChain's serialized form: {"lc": 1, "type": "constructor", "id": [...], "kwargs": {...}}.
    if "lc" in keys and isinstance(value.get("kwargs"), Mapping):
        return _open_result_envelope(value["kwargs"], depth + 1)
    # OpenLLMetry's tool output payload: {"output": ..., "kwargs": ...}.
    if keys <= {"output", "outputs", "kwargs"} and ("output" in keys or "outputs" in keys):
        inner = value.get("output", value.get("outputs"))
        return _open_result_envelope(_parse(inner), depth + 1)
    # A tool message: keep what it says (and whether it failed), not which call it answered.
    if "content" in keys and ("tool_call_id" in keys or value.get("type") == "tool"):
        status = value.get("status")
        content = _parse(value.get("content"))
        return {"content": content, "status": status} if status == "error" else content
    return value


def _strip_volatile(value: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {
            str(key): _strip_volatile(item, depth + 1)
            for key, item in value.items()
            if key not in _VOLATILE_KEYS and not str(key).startswith(_VOLATILE_PREFIXES)
        }
    if isinstance(value, (list, tuple)):
        return [_strip_volatile(item, depth + 1) for item in value]
    return value


def _dump(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError):  # e.g. keys that cannot be sorted against each other
        return repr(value)
