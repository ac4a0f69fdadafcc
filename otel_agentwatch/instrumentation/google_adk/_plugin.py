"""The ADK plugin that every runner gets: content for the detectors, halting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.adk.plugins import BasePlugin  # imported once the application has ADK
from opentelemetry import trace

from ... import control, semconv
from ..._bridge import BRIDGE, Content
from ..._guard import internal_error
from ...config import Config
from .._messages import attribute_text

__all__ = ["WatchPlugin"]

PLUGIN_NAME = "otel_agentwatch"


class WatchPlugin(BasePlugin):  # type: ignore[misc]  # ADK ships no type information
    """Observes from inside ADK's spans; every callback returns None, so ADK goes on as
    it would without us (a value returned would replace the tool's or model's result)."""

    def __init__(self, config: Config) -> None:
        super().__init__(name=PLUGIN_NAME)
        self.active = True
        self._halt_on = control.halt_level(config)

    def join(self, manager: Any) -> None:
        """Register with a new ``PluginManager``, once: an ``AgentTool`` starts a runner
        of its own with its parent's plugins, ours among them."""
        try:
            if manager.get_plugin(PLUGIN_NAME) is None:
                manager.register_plugin(self)
        except Exception as error:
            internal_error("ADK plugin registration", error, "this runner is not watched")

    async def before_agent_callback(self, *, agent: Any, callback_context: Any) -> None:
        if self.active:
            _in_span("ADK agent", lambda span_id, _span: _give_objective(
                span_id, getattr(callback_context, "user_content", None)))

    async def before_tool_callback(self, *, tool: Any, tool_args: dict[str, Any],
                                   tool_context: Any) -> None:
        if not self.active:
            return
        if self._halt_on is not None:
            # ADK's execute_tool span is current; AgentHalted is the user's, and derives
            # from BaseException, which ADK lets through.
            control.check_current(self._halt_on)
        _in_span("ADK tool call", lambda span_id, _span: BRIDGE.keep(
            span_id, Content(args=dict(tool_args))))

    async def after_tool_callback(self, *, tool: Any, tool_args: dict[str, Any],
                                  tool_context: Any, result: Any) -> None:
        if self.active:
            _in_span("ADK tool result", lambda span_id, span: _keep_result(
                span_id, span, tool_args, result))


def _in_span(site: str, act: Callable[[int, Any], None]) -> None:
    """Call ``act`` with the current span (ADK's) and its id, if it records; never
    raises: an exception from a plugin would fail the application's run."""
    try:
        span = trace.get_current_span()
        if span.is_recording():
            act(span.get_span_context().span_id, span)
    except Exception as error:
        internal_error(site, error, "the detectors miss what this step said")


def _give_objective(span_id: int, user_content: Any) -> None:
    texts = [part.text for part in getattr(user_content, "parts", None) or ()
             if isinstance(getattr(part, "text", None), str)]
    if texts:
        BRIDGE.give_objective(span_id, "\n".join(texts))


def _keep_result(span_id: int, span: Any, arguments: dict[str, Any], result: Any) -> None:
    kept = BRIDGE.kept(span_id)
    if kept is None:
        BRIDGE.keep(span_id, Content(args=dict(arguments), result=result))
    else:
        kept.result = result
    if not BRIDGE.captures(span_id):
        return
    # Our capture is on and ADK's may not be (it reads `true` as events only).
    present = getattr(span, "attributes", None) or {}
    if semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in present:
        span.set_attribute(semconv.GEN_AI_TOOL_CALL_ARGUMENTS, attribute_text(arguments))
    if semconv.GEN_AI_TOOL_CALL_RESULT not in present and result is not None:
        span.set_attribute(semconv.GEN_AI_TOOL_CALL_RESULT, attribute_text(result))
