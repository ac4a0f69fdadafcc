"""OpenAI Agents SDK instrumentation: the SDK's own tracing, mirrored as GenAI spans.

The Agents SDK traces every run with a tracing system of its own (``agents.tracing``),
not OpenTelemetry. We add a trace processor to it (``agents.add_trace_processor``; the
SDK's other processors, such as its exporter to the OpenAI dashboard, stay as they are)
that mirrors its spans as OpenTelemetry spans: an agent span as ``invoke_agent {name}``,
a function tool span as ``execute_tool {name}``, a model call (response or generation
span) as ``chat {model}``. The run's task and turn spans, handoffs and guardrails have no
span of their own: what they contain is parented to the nearest mirrored span.

A model call's span is current while the SDK calls the model, so our OpenAI
instrumentation makes no second span for it (one span per call). A tool's arguments and
result reach the detectors in the process and go on the span only with content capture
on. With ``AGENTWATCH_ACTION=halt``, a tool call in a run that is already stuck raises
:class:`~otel_agentwatch.AgentHalted` as its span starts, before the tool runs; the SDK
lets it through (it derives from ``BaseException``) and ``Runner.run`` raises it.
``OPENAI_AGENTS_DISABLE_TRACING=1`` turns the SDK's tracing off, and this with it.

Another instrumentation that mirrors the SDK (OpenInference's, OpenLLMetry's) makes its
span for an SDK span current as it starts it; when that span is current as ours would
start, ours stands aside (one span, one step per call) and halting acts through theirs.
For that, ours must come after theirs in the SDK's list of processors: while instrumented,
ours is moved back to the end whenever the list changes (``add_trace_processor``,
``set_trace_processors``, OpenInference's instrumentor, which by default replaces the list
with its own processor and would drop ours).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, ClassVar

from opentelemetry import trace

from ..._guard import internal_error
from ...config import Config
from ...version import __version__
from .._base import Instrumentor, unwrap

if TYPE_CHECKING:  # the module imports the SDK: only once the application has
    from ._mirror import SpanMirror

__all__ = ["OpenAIAgentsInstrumentor"]

# What changes the SDK's list of trace processors: its two methods, and OpenInference's
# instrumentor, which writes the list itself under the SDK's lock.
_MULTI = "agents.tracing.provider", "SynchronousMultiTracingProcessor"
_CHANGES = ((*_MULTI, "add_tracing_processor"), (*_MULTI, "set_processors"))
_OPENINFERENCE = ("openinference.instrumentation.openai_agents", "OpenAIAgentsInstrumentor",
                  "_instrument")


class OpenAIAgentsInstrumentor(Instrumentor):
    """Instruments the ``openai-agents`` package (module ``agents``)."""

    name: ClassVar[str] = "openai_agents"
    target_module: ClassVar[str] = "agents"

    def __init__(self) -> None:
        super().__init__()
        self._mirror: SpanMirror | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai-agents >= 0.24",)

    def _instrument(self, *, tracer_provider: trace.TracerProvider | None = None,
                    config: Config | None = None, **_options: Any) -> None:
        import wrapt
        from agents import add_trace_processor

        from ._mirror import SpanMirror

        tracer = trace.get_tracer(f"otel_agentwatch.instrumentation.{self.name}", __version__,
                                  tracer_provider=tracer_provider)
        config = config if config is not None else Config.from_env()
        if self._mirror is None:
            # The SDK has no way to remove a processor: one is added once per
            # instrumentor, and switched off and on with it.
            self._mirror = SpanMirror(tracer, config)
            add_trace_processor(self._mirror)
        else:
            self._mirror.reconfigure(tracer, config)
        self._mirror.active = True
        self._keep_last()
        for change in _CHANGES:
            self._wrap(change)
        wrapt.register_post_import_hook(lambda _module: self._wrap(_OPENINFERENCE),
                                        _OPENINFERENCE[0])

    def _uninstrument(self) -> None:
        if self._mirror is not None:
            self._mirror.active = False
        for module_name, owner, method in (*_CHANGES, _OPENINFERENCE):
            module = sys.modules.get(module_name)
            if module is not None and hasattr(module, owner):
                unwrap(getattr(module, owner), method)

    def _wrap(self, target: tuple[str, str, str]) -> None:
        """Wrap a method that changes the SDK's processors, to move ours last after it."""
        import wrapt

        module_name, owner, method = target
        if self._mirror is None or not self._mirror.active:
            return  # the import hook fired after uninstrument()
        owner_class = getattr(sys.modules.get(module_name), owner, None)
        current = vars(owner_class).get(method) if owner_class is not None else None
        if current is None or isinstance(current, wrapt.BaseObjectProxy):
            return  # not in this version, or wrapped already
        wrapt.wrap_function_wrapper(owner_class, method, self._after_change)

    def _after_change(self, wrapped: Callable[..., Any], instance: Any, args: Any,
                      kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        self._keep_last()
        return result

    def _keep_last(self) -> None:
        """Put our processor at the end of the SDK's list, adding it back if a
        replacement left it out."""
        mirror = self._mirror
        if mirror is None or not mirror.active:
            return
        try:
            from agents import set_trace_processors
            from agents.tracing import get_trace_provider

            # The SDK offers no reader of its processors: its multi-processor's tuple.
            multi = getattr(get_trace_provider(), "_multi_processor", None)
            registered = getattr(multi, "_processors", None)
            if isinstance(registered, tuple) and (not registered or registered[-1] is not mirror):
                # Calls our wrapper again, which then finds ours last.
                set_trace_processors([p for p in registered if p is not mirror] + [mirror])
        except Exception as error:
            internal_error("Agents SDK processor registration", error,
                           "the Agents SDK may not be traced by otel-agentwatch")
