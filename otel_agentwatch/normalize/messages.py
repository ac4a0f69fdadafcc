"""The first user message of a model call's span, in each dialect that records one: what a
run was asked, for ``drift.objective`` when nothing gave it an objective otherwise.

Spans carry input messages only when their instrumentation captures content:
``gen_ai.input.messages`` (GenAI conventions, JSON), ``llm.input_messages.{i}.message.*``
(OpenInference, flattened), ``gen_ai.prompt.{i}.*`` (OpenLLMetry, flattened).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .. import semconv
from ._args import PARSE_LIMIT, parse_json

__all__ = ["agent_input", "first_user_message"]

_FLATTENED = (("llm.input_messages.{}.message.role", "llm.input_messages.{}.message.content"),
              ("gen_ai.prompt.{}.role", "gen_ai.prompt.{}.content"))
_MAX_MESSAGES = 16  # flattened messages looked at: the user's first one comes early
# Keys under which frameworks put an agent's task in the JSON of its input.
_TASK_KEYS = ("task", "input", "query", "question", "user_msg", "prompt", "message")
# Where the task's text starts in JSON text: one of those keys, then the opening quote.
_TASK_START = re.compile('"(?:' + "|".join(_TASK_KEYS) + r')"\s*:\s*"')
_DECODER = json.JSONDecoder()
# A half-written escape at the end of text cut short: ``\``, ``\u``, ``\u00``, ...
_CUT_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?$")


def first_user_message(attributes: Mapping[str, Any]) -> str | None:
    """The text of the first user message the span recorded, or None."""
    value = attributes.get(semconv.GEN_AI_INPUT_MESSAGES)
    if isinstance(value, str):
        return _from_genai(value)
    for role_key, content_key in _FLATTENED:
        for index in range(_MAX_MESSAGES):
            role = attributes.get(role_key.format(index))
            if role is None:
                break
            if role in ("user", "human"):
                text = attributes.get(content_key.format(index))
                return text if isinstance(text, str) and text else None
    return None


def _from_genai(text: str) -> str | None:
    messages = parse_json(text)
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, Mapping) or message.get("role") != "user":
            continue
        parts = message.get("parts")
        texts = [content for part in (parts if isinstance(parts, list) else ())
                 if isinstance(part, Mapping) and part.get("type") == "text"
                 and isinstance(content := part.get("content"), str)]
        return "\n".join(texts) or None
    return None


def agent_input(attributes: Mapping[str, Any]) -> str | None:
    """What an agent span says its run was asked, as it starts: the first user message of
    its ``gen_ai.input.messages`` (where the GenAI conventions put an agent's input), or
    its input (OpenInference ``input.value``, OpenLLMetry ``traceloop.entity.input``):
    plain text, or the task of a JSON object (``{"task": ...}``, ``{"input": ...}``)."""
    text = first_user_message(attributes)
    if text is not None:
        return text
    for key in (semconv.OI_INPUT_VALUE, semconv.TL_ENTITY_INPUT):
        value = attributes.get(key)
        if isinstance(value, str) and value.strip():
            return _task_of(value)
    return None


def _task_of(text: str) -> str | None:
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[", '"')):
        return text
    # An input's JSON is read only up to PARSE_LIMIT: this runs as an agent span starts,
    # on the application's thread, and a task is short.
    value = parse_json(stripped, PARSE_LIMIT)
    if value is None and stripped.startswith("{"):
        return _task_of_cut_object(stripped)
    for _ in range(3):  # OpenLLMetry nests the inputs one level: {"inputs": {...}}
        if isinstance(value, str):
            return value or None
        if not isinstance(value, Mapping):
            return None
        for key in _TASK_KEYS:
            found = value.get(key)
            if isinstance(found, str) and found:
                return found
        value = value.get("inputs") or value.get("kwargs")
    return None


def _task_of_cut_object(text: str) -> str | None:
    """The task in a JSON object that does not parse, most often because it was cut short
    (an instrumentation's, or the SDK's, limit on an attribute's length): the string
    value of its first task key, as far as it goes."""
    found = _TASK_START.search(text, 0, PARSE_LIMIT)
    if found is None:
        return None
    start = found.end()
    try:  # the whole string is there, from its opening quote
        value, _end = _DECODER.raw_decode(text, start - 1)
    except ValueError:  # cut inside it: close it after the last whole character
        tail = _CUT_ESCAPE.sub("", text[start:start + PARSE_LIMIT])
        try:
            value, _end = _DECODER.raw_decode(f'"{tail}"')
        except ValueError:
            return None
        if value and "\ud800" <= value[-1] <= "\udbff":  # half of a pair of \u escapes
            value = value[:-1]
    if not isinstance(value, str):
        return None
    return value.strip() or None
