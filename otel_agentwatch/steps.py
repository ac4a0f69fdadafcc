"""The step: one unit of an agent's trajectory, whatever instrumentation made the span.

A :class:`Step` is what the detectors see. It is built once per ended span by
:mod:`otel_agentwatch.normalize` and never changes afterwards.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from typing import Any, NamedTuple

__all__ = ["RunKey", "Step", "StepKind"]

RunKey = tuple[int, int]
"""``(trace_id, anchor_span_id)``: the nearest agent span, or else the local trace root;
``(0, conversation)`` for SDK model calls made outside any span, grouped by conversation."""


class StepKind(str, enum.Enum):
    """What a step did."""

    TOOL = "tool"
    LLM = "llm"
    AGENT = "agent"
    OTHER = "other"


class Step(NamedTuple):
    """One normalized span of an agent run; immutable.

    A ``NamedTuple`` rather than a frozen dataclass: one is built for every ended span,
    on the application's thread, and a frozen dataclass costs five times as much to build.

    Content fields (``args``, ``result``, ``output_text``) hold what the span carried
    in-process, whether or not content capture is on; detectors keep only digests of
    them, and nothing here is exported. ``args`` may be a parsed JSON object: read it,
    never change it (other detectors see the same object).

    Attributes:
        kind: tool call, model call, agent invocation, or something else we understood.
        name: tool name for tools, model name for model calls, agent name for agents.
        span_id, trace_id, parent_span_id: the span's identity.
        run_key: the run this step belongs to.
        args: tool arguments, parsed when they were JSON (envelopes opened, volatile ids
            removed), else their text; None when the span did not carry them.
        args_key: hashable form of ``args`` in which key order does not matter: two
            calls with equal keys are the same call.
        result: canonical tool result text (message envelopes opened, ids removed).
        error: error type when the step failed, else None.
        error_message: the error's message, when the span recorded one.
        input_tokens, output_tokens, reasoning_tokens: model usage, when reported.
        output_text: the model's text output, when the span carried it.
        agent_name: the agent that ran the step, when known.
        start_time, end_time: nanoseconds since the epoch.
    """

    kind: StepKind
    name: str
    span_id: int
    trace_id: int
    run_key: RunKey
    parent_span_id: int | None = None
    args: Any = None
    args_key: Hashable | None = None
    result: str | None = None
    error: str | None = None
    error_message: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    output_text: str | None = None
    agent_name: str | None = None
    start_time: int | None = None
    end_time: int | None = None

    @property
    def call_key(self) -> tuple[str, Hashable] | None:
        """``(tool name, args key)`` for tool steps that carried arguments, else None."""
        if self.kind is not StepKind.TOOL or self.args_key is None:
            return None
        return (self.name, self.args_key)

    @property
    def outcome_key(self) -> tuple[str | None, str | None]:
        """What came back: the error type, or else the canonical result."""
        if self.error is not None:
            return ("error", self.error)
        return (None, self.result)
