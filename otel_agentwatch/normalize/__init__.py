"""Span -> :class:`~otel_agentwatch.steps.Step`, for each attribute dialect we read.

:func:`normalize` picks the dialect from the attributes a span carries and returns
``None`` for spans that none of them describes (HTTP, database, plain application
spans): those pass through the processor untouched.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan

from .. import semconv
from ..steps import RunKey, Step
from . import genai, openinference, openllmetry

__all__ = ["is_agent_span", "normalize"]


def normalize(span: ReadableSpan, run_key: RunKey) -> Step | None:
    """The step a span describes, or None when it is not an agent, model or tool span."""
    attributes = span.attributes
    if not attributes:
        return None
    # OpenLLMetry also sets gen_ai.operation.name; its own kind says more, so check it first.
    if semconv.TL_SPAN_KIND in attributes:
        return openllmetry.to_step(span, attributes, run_key)
    if semconv.GEN_AI_OPERATION_NAME in attributes:
        return genai.to_step(span, attributes, run_key)
    if semconv.OI_SPAN_KIND in attributes:
        return openinference.to_step(span, attributes, run_key)
    if semconv.TL_REQUEST_TYPE in attributes:
        return openllmetry.to_step(span, attributes, run_key)
    return None


def is_agent_span(name: str, attributes: object) -> bool:
    """Whether a span (as seen when it starts) invokes an agent, in any dialect.

    Some instrumentations (OpenInference's LangChain one) set attributes only at the
    end; their agent spans are then not recognised at start, and their steps group by
    the trace root instead.
    """
    if name.startswith(semconv.OP_INVOKE_AGENT):
        return True
    if not attributes:
        return False
    get = getattr(attributes, "get", None)
    if get is None:
        return False
    return (
        get(semconv.GEN_AI_OPERATION_NAME) == semconv.OP_INVOKE_AGENT
        or str(get(semconv.OI_SPAN_KIND, "")).upper() == "AGENT"
        or str(get(semconv.TL_SPAN_KIND, "")).lower() == "agent"
    )
