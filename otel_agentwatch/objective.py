"""Finding what a run was asked to do: its objective, for the detectors that judge against it.

The objective is the first of: what the application gave for the run
(:func:`~otel_agentwatch.set_objective`, or the ``agentwatch.objective`` attribute of its
agent or root span when that starts), the input that span records as it starts (its
``gen_ai.input.messages``; OpenInference's and OpenLLMetry's input); nested agents
without either inherit their caller's; then what our
instrumentation saw the run asked (a LangChain agent's input, an SDK call's first user
message), ``agentwatch.objective`` on a step span, or the first user message one of the
run's first model spans recorded (another instrumentation's, with its content capture
on). It stays in the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import semconv
from ._bridge import Bridge, Content
from .normalize.messages import agent_input, first_user_message

__all__ = ["MODEL_SPANS_READ", "given_at_start", "of_step"]

MODEL_SPANS_READ = 3  # a run's model spans read for a first user message, at most


def given_at_start(attributes: Mapping[str, Any] | None, outer_anchor: int | None,
                   bridge: Bridge) -> str | None:
    """An agent or root span's objective as it starts: its ``agentwatch.objective``
    attribute, else the input it records (``gen_ai.input.messages``, OpenInference's or
    OpenLLMetry's input: see :func:`~.normalize.messages.agent_input`), or else (a
    nested agent: ``outer_anchor`` is the span anchoring the run it was started in) the
    objective of that run."""
    attributes = attributes or {}
    objective = attributes.get(semconv.OBJECTIVE)
    if not objective and attributes:
        objective = agent_input(attributes)
    if not objective and outer_anchor is not None:
        objective = bridge.objective_of(outer_anchor)
    return objective if isinstance(objective, str) and objective else None


def of_step(anchor: int, attributes: Mapping[str, Any], kept: Content | None,
            read_messages: bool, bridge: Bridge) -> str | None:
    """The objective a step of the run anchored at ``anchor`` tells, if any:
    given for the run, read off a model call's request by our instrumentation (``kept``),
    an attribute of the step's span, or (``read_messages``: a model span, among the
    run's first few) the first user message its span recorded."""
    text = bridge.objective_of(anchor)
    if text is None and kept is not None:
        text = kept.objective
    if text is None:
        attribute = attributes.get(semconv.OBJECTIVE)
        text = attribute if isinstance(attribute, str) else None
    if text is None and read_messages:
        text = first_user_message(attributes)
    return text or None
