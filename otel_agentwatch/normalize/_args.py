"""Values shared by the dialect normalizers: tool arguments and results, numbers.

Two calls are "the same" when their argument keys are equal. The key is built from the
parsed arguments, so JSON key order and whitespace do not matter; the volatile ids that
some instrumentations embed (call ids, LangGraph checkpoint ids, run ids) are removed
and the callback envelopes they wrap arguments in (OpenLLMetry's ``{"input_str",
"inputs", "metadata", ...}``, smolagents' ``{"args", "kwargs"}``) are opened first.

Total and bounded, whatever a span carries: text over :data:`PARSE_LIMIT` is compared as
it is, not parsed; a value nested deeper than :data:`MAX_DEPTH` is compared by its text;
and a key is made of strings, numbers, ``None``, tuples and frozensets only, so comparing
two keys never runs an application object's ``==`` (a numpy array's or a SQLAlchemy
clause's raises).
"""

from __future__ import annotations

import ast
import json
import json.scanner
import math
import re
import reprlib
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
PARSE_LIMIT = 64 * 1024
"""Characters of an argument or result parsed; beyond it a value is compared as given:
parsing is not free, and a repeated multi-megabyte argument is equal byte for byte anyway."""
MESSAGES_PARSE_LIMIT = 1024 * 1024
"""Characters of a model call's recorded messages parsed (for its text or its first user
message); beyond it the output is read as plain text and the input not at all."""
MAX_DEPTH = 32
"""Nesting levels of a parsed value that are opened; a deeper value is compared by its text."""
_KEY_ATOMS = (str, int, float, bool, type(None), bytes)  # their == never raises
_REPR = reprlib.Repr()  # bounded: an application object's text, at most a few levels deep
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 4, 1024, 1024


class _TooDeep(Exception):
    """A value nested deeper than MAX_DEPTH: compared by its text instead."""


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
    if not isinstance(value, str):  # an application's own objects: any type, any depth
        opened = _strip_volatile(opened, 0)
        try:
            return opened, _freeze_object(opened, 0)
        except _TooDeep:
            return opened, _safe_text(opened)
    if _may_hold_volatile(value) and _MAY_HOLD_VOLATILE.search(value) is not None:
        opened = _strip_volatile(opened, 0)
    try:
        return opened, freeze(opened)
    except _TooDeep:
        text = value.strip()
        return text, text


def _may_hold_volatile(text: str) -> bool:
    """A quick look before the regex: each volatile key has one of these in it (a test
    checks it), and most arguments have none."""
    return ("_id" in text or "_ns" in text or "callbacks" in text or "run_manager" in text
            or "langgraph_" in text)


def freeze(value: Any, depth: int = 0) -> Hashable:
    """A hashable form of a parsed JSON value (or Python literal) in which the order of
    object keys does not matter. Raises :class:`_TooDeep` beyond :data:`MAX_DEPTH`.

    Cheaper than re-encoding as sorted JSON, which matters on every tool span. Like any
    Python equality, it takes ``1``, ``1.0`` and ``true`` as equal.
    """
    # type() first: most values are plain dicts, and the Mapping check is an ABC lookup.
    if type(value) is dict:
        try:
            return frozenset(value.items())  # the common case: flat arguments
        except TypeError:  # a nested list or object
            if depth >= MAX_DEPTH:
                raise _TooDeep from None
            return frozenset((key, freeze(item, depth + 1)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            raise _TooDeep
        return tuple(freeze(item, depth + 1) for item in value)
    if isinstance(value, _KEY_ATOMS):
        return value
    return _freeze_object(value, depth)  # a set or bytes from a Python literal


def _freeze_object(value: Any, depth: int) -> Hashable:
    """:func:`freeze` for any value (an application's own arguments): anything but
    strings, numbers, None, lists, tuples, sets and mappings becomes its text."""
    if isinstance(value, _KEY_ATOMS):
        return value
    if depth >= MAX_DEPTH:
        raise _TooDeep
    if isinstance(value, Mapping):
        return frozenset((_freeze_object(key, depth + 1), _freeze_object(item, depth + 1))
                         for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze_object(item, depth + 1) for item in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze_object(item, depth + 1) for item in value)
    return _safe_text(value)


def canonical_result(value: Any) -> str | None:
    """Canonical text of a tool result: message envelopes opened, ids removed."""
    if value is None:
        return None
    parsed = _parse(value)
    if isinstance(parsed, str):
        return parsed.strip()
    text = _encode(_strip_volatile(_open_result_envelope(parsed, 0), 0))
    if text is None:  # too deep, or not JSON: as given
        return value.strip() if isinstance(value, str) else _safe_text(value)
    return text


def to_int(value: Any) -> int | None:
    """An integer from an attribute value that may be an int, a float or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None  # NaN and infinity are not counts
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
    if not text or len(text) > PARSE_LIMIT or text[0] not in "{[(\"":
        return text
    try:
        parsed, end = _scan_json(text, 0)
        if end != len(text):  # text after the value: not one JSON document
            raise ValueError(text)
    except RecursionError:  # nested past the interpreter's limit: compared as text
        return text
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
        if not isinstance(kwargs, Mapping) or not isinstance(args, (list, tuple)):
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
    if depth > MAX_DEPTH:
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


def parse_json(text: str, limit: int = MESSAGES_PARSE_LIMIT) -> Any:
    """``text`` parsed as JSON, or None when it is longer than ``limit``, not JSON, or
    nested past the interpreter's limit."""
    if len(text) > limit:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _encode(value: Any) -> str | None:
    """Sorted, compact JSON text of a value (``str`` of other objects), else None."""
    if isinstance(value, str):
        return value.strip()
    try:
        return _ENCODER.encode(value)
    # Keys that cannot be sorted against each other, nesting past the interpreter's
    # limit, an application object whose str() raises.
    except Exception:
        return None


DIGESTED = "digest:"
"""How a result known only by its digest reads in a step (``digest:`` and the digest)."""


def canonical_text(value: Any) -> str:
    """Text that stands for a parsed value, the same in every process: sorted, compact
    JSON (with ``str`` for other objects), else a bounded ``repr``. Never raises."""
    return _safe_text(value)


def _safe_text(value: Any) -> str:
    """Text that stands for any value: its JSON (with ``str`` for other objects), else a
    bounded ``repr``, else its type's name. Never raises."""
    text = _encode(value)
    if text is not None:
        return text
    try:
        return _REPR.repr(value)
    except Exception:  # an object whose repr raises
        return f"<{type(value).__qualname__}>"
