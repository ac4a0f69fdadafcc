"""The LangChain callback handler that turns runs into GenAI spans.

Spans: ``invoke_agent {name}`` for agent and graph invocations, ``chat {model}`` for chat
model calls, ``text_completion {model}`` for completion models, ``execute_tool {tool}``
for tools; other chains only as ``AGENTWATCH_LANGCHAIN_CHAINS`` asks. Parents come from
LangChain's run ids, so threads, tasks and parallel branches keep the right parents.

A tool's or model's span is also made current in the frame that runs it, so HTTP calls
and user code inside nest under it: the wrappers in :mod:`._frames` mark that frame, the
handler (run inline, in the caller's context) attaches the span there when the run
starts, and the wrapper detaches it when the call returns. Not at the end of the run:
langchain-core reports the end of an async model call from a task of its own, where
detaching would fail and leave the span current in the caller.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from ... import control, semconv
from ..._bounded import BoundedDict
from ..._bridge import BRIDGE, Content
from ..._guard import internal_error
from ...config import Config
from .._errors import record_error
from . import _attributes
from ._frames import Frame, current_frame

__all__ = ["AgentWatchCallbackHandler"]

_MAX_RUNS = 10_000  # open runs remembered; older ones are dropped if never ended
# Exceptions LangGraph uses for control flow, not failure.
_CONTROL_FLOW = frozenset({"GraphInterrupt", "NodeInterrupt", "GraphBubbleUp", "ParentCommand",
                           "Command"})


_Method = TypeVar("_Method", bound=Callable[..., None])


def _guarded(method: _Method) -> _Method:
    """A callback that never raises into LangChain (a failure is logged once, per method).

    ``AgentHalted`` is a ``BaseException`` and passes through, as it must.
    """
    site = f"langchain {method.__name__}"

    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            method(*args, **kwargs)
        except Exception as error:
            internal_error(site, error)

    return guarded  # type: ignore[return-value]  # same signature


class _Run:
    __slots__ = ("agent", "arguments", "parent", "root_inputs", "span")

    def __init__(self, span: Span | None, parent: Span | None, agent: str | None) -> None:
        self.span = span  # this run's own span, or None when it has none
        self.parent = span or parent  # the span its children hang under
        self.agent = agent  # the agent whose run this is part of
        self.arguments: Any = None  # a tool's arguments, kept for the detectors
        # A top-level chain's input, until its first child shows whether it is a graph.
        self.root_inputs: tuple[Any] | None = None


class AgentWatchCallbackHandler(BaseCallbackHandler):
    """One handler for every LangChain run (added by the configure hook)."""

    # Inline: called in the caller's own context (async included), so a span attached
    # at the start of a run can be detached at its end.
    run_inline = True
    raise_error = False

    def __init__(self, tracer: Tracer, config: Config) -> None:
        super().__init__()
        self._tracer = tracer
        self._config = config
        self._chains = config.langchain_chains
        self._capture = config.capture_content
        self._halt_on = control.halt_level(config)
        self._runs: BoundedDict[UUID, _Run] = BoundedDict(_MAX_RUNS)

    # --- bookkeeping ----------------------------------------------------------------------------

    def span_for(self, run_id: UUID) -> Span | None:
        """The span the children of LangChain run ``run_id`` hang under, if we traced it."""
        run = self._runs.get(run_id)
        return run.parent if run is not None else None

    def _parent(self, parent_run_id: UUID | None) -> _Run | None:
        return self._runs.get(parent_run_id) if parent_run_id is not None else None

    def _start(self, run_id: UUID, name: str, kind: SpanKind, attributes: dict[str, Any],
               parent: _Run | None, agent: str | None, frame: Frame | None = None) -> Span:
        context = trace.set_span_in_context(parent.parent) if parent and parent.parent else None
        span = self._tracer.start_span(name, context=context, kind=kind, attributes=attributes)
        if frame is not None:
            frame.attach(span)  # undone by the frame's wrapper, in the context it ran in
        self._remember(run_id, _Run(span, None, agent))
        return span

    def _remember(self, run_id: UUID, run: _Run) -> None:
        self._runs.put(run_id, run)

    def _finish(self, run_id: UUID, error: BaseException | None = None,
                **attributes: Any) -> Span | None:
        run = self._runs.pop(run_id, None)
        if run is None or run.span is None:
            return None
        span = run.span
        if attributes:
            span.set_attributes(attributes)
        if error is not None and type(error).__name__ not in _CONTROL_FLOW:
            record_error(span, error, self._capture)
        span.end()
        return span

    # --- chains and agents -----------------------------------------------------------------------

    @_guarded
    def on_chain_start(self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, tags: list[str] | None = None,
                       metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        parent = self._parent(parent_run_id)
        metadata = metadata or {}
        if parent is not None and parent.root_inputs is not None:
            self._promote_graph(parent, metadata)  # before its agent name is inherited
        name = str(kwargs.get("name") or _attributes._class_name(serialized) or "chain")
        agent_name = metadata.get("lc_agent_name")
        inherited = parent.agent if parent else None
        is_agent = (parent_run_id is None and (agent_name or name == "LangGraph")) or (
            isinstance(agent_name, str) and agent_name != inherited)
        if is_agent:
            agent = str(agent_name or name)
            span = self._start(run_id, f"{semconv.OP_INVOKE_AGENT} {agent}", SpanKind.INTERNAL, {
                semconv.GEN_AI_OPERATION_NAME: semconv.OP_INVOKE_AGENT,
                semconv.GEN_AI_AGENT_NAME: agent,
                semconv.GEN_AI_PROVIDER_NAME: "langchain",
                **_attributes.langgraph_attributes(metadata),
            }, parent, agent)
            self._give_objective(span, inputs)
        elif parent_run_id is None or self._chains == "all" or (
                self._chains == "nodes" and metadata.get("langgraph_node") == name):
            self._start(run_id, name, SpanKind.INTERNAL,
                        _attributes.langgraph_attributes(metadata), parent, inherited)
            if parent_run_id is None:
                self._runs[run_id].root_inputs = (inputs,)
        else:
            self._remember(run_id, _Run(None, parent.parent if parent else None, inherited))

    def _promote_graph(self, root: _Run, child_metadata: dict[str, Any]) -> None:
        """A top-level chain whose first child is a LangGraph step is a graph invocation
        under a name of its own (``compile(name=...)``, ``run_name``): an agent span.

        Only the default name "LangGraph" and ``lc_agent_name`` tell a graph at its start
        (LangChain passes no serialized form), hence the renaming at the first child.
        """
        held, root.root_inputs = root.root_inputs, None
        span = root.span
        if held is None or span is None or "langgraph_step" not in child_metadata:
            return
        (inputs,) = held
        name = getattr(span, "name", "LangGraph")
        span.update_name(f"{semconv.OP_INVOKE_AGENT} {name}")
        span.set_attributes({semconv.GEN_AI_OPERATION_NAME: semconv.OP_INVOKE_AGENT,
                             semconv.GEN_AI_AGENT_NAME: name,
                             semconv.GEN_AI_PROVIDER_NAME: "langchain"})
        root.agent = name
        self._give_objective(span, inputs)

    @staticmethod
    def _give_objective(span: Span, inputs: Any) -> None:
        objective = _attributes.first_user_text(inputs)
        if objective:  # what the agent was asked: the run's objective, in-process
            BRIDGE.give_objective(span.get_span_context().span_id, objective)

    @_guarded
    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id)

    @_guarded
    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id, error)

    # --- models ----------------------------------------------------------------------------------

    @_guarded
    def on_chat_model_start(self, serialized: dict[str, Any] | None, messages: Any, *,
                            run_id: UUID, parent_run_id: UUID | None = None,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._model_start(serialized, run_id, parent_run_id, metadata, kwargs, semconv.OP_CHAT,
                          messages)

    @_guarded
    def on_llm_start(self, serialized: dict[str, Any] | None, prompts: list[str], *,
                     run_id: UUID, parent_run_id: UUID | None = None,
                     metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._model_start(serialized, run_id, parent_run_id, metadata, kwargs,
                          semconv.OP_TEXT_COMPLETION, prompts)

    def _model_start(self, serialized: dict[str, Any] | None, run_id: UUID,
                     parent_run_id: UUID | None, metadata: dict[str, Any] | None,
                     kwargs: dict[str, Any], operation: str, prompt: Any) -> None:
        parent = self._parent(parent_run_id)
        model, attributes = _attributes.chat_attributes(
            serialized, metadata, kwargs.get("invocation_params"))
        attributes[semconv.GEN_AI_OPERATION_NAME] = operation
        attributes.update(_attributes.langgraph_attributes(metadata))
        if parent and parent.agent:
            attributes[semconv.GEN_AI_AGENT_NAME] = parent.agent
        if self._capture:
            attributes[semconv.GEN_AI_INPUT_MESSAGES] = json.dumps(prompt, default=str)
        self._start(run_id, f"{operation} {model}", SpanKind.CLIENT, attributes, parent,
                    parent.agent if parent else None, current_frame())

    @_guarded
    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is None or run.span is None:
            return
        attributes: dict[str, Any] = _attributes.usage(response)
        model = _attributes.response_model(response)
        if model:
            attributes[semconv.GEN_AI_RESPONSE_MODEL] = model
        reasons = _attributes.finish_reasons(response)
        if reasons:
            attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
        if self._capture:
            attributes[semconv.GEN_AI_OUTPUT_MESSAGES] = _attributes.output_messages(response)
        else:
            text = _attributes.output_text(response)
            if text:
                BRIDGE.keep(run.span.get_span_context().span_id,
                             Content(output_text=text))
        self._finish(run_id, **attributes)

    @_guarded
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id, error)

    # --- tools -----------------------------------------------------------------------------------

    @_guarded
    def on_tool_start(self, serialized: dict[str, Any] | None, input_str: str, *, run_id: UUID,
                      parent_run_id: UUID | None = None,
                      metadata: dict[str, Any] | None = None,
                      inputs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        parent = self._parent(parent_run_id)
        if self._halt_on is not None and parent is not None:
            control.check(parent.parent, self._halt_on)  # raises AgentHalted: not an error of ours
        name = str((serialized or {}).get("name") or kwargs.get("name") or "tool")
        attributes: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
            semconv.GEN_AI_TOOL_NAME: name,
            "gen_ai.tool.type": "function",
            **_attributes.langgraph_attributes(metadata),
        }
        frame = current_frame()
        call_id = kwargs.get("tool_call_id") or (frame.call_id if frame else None)
        if isinstance(call_id, str):
            attributes[semconv.GEN_AI_TOOL_CALL_ID] = call_id
        if parent and parent.agent:
            attributes[semconv.GEN_AI_AGENT_NAME] = parent.agent
        arguments = inputs if isinstance(inputs, Mapping) else input_str
        if self._capture:
            attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS] = (
                arguments if isinstance(arguments, str)
                else json.dumps(arguments, default=str, ensure_ascii=False))
        self._start(run_id, f"{semconv.OP_EXECUTE_TOOL} {name}", SpanKind.INTERNAL,
                    attributes, parent, parent.agent if parent else None, frame)
        self._runs[run_id].arguments = arguments

    @_guarded
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is None or run.span is None:
            return
        result, status = _attributes.tool_result_text(output)
        if status == "error":  # a tool error turned into a message (handle_tool_error)
            run.span.set_status(Status(StatusCode.ERROR, str(result)[:1000]))
            run.span.set_attribute(semconv.ERROR_TYPE, "ToolException")
        if self._capture:
            run.span.set_attribute(semconv.GEN_AI_TOOL_CALL_RESULT,
                                   result if isinstance(result, str)
                                   else json.dumps(result, default=str, ensure_ascii=False))
        else:
            BRIDGE.keep(run.span.get_span_context().span_id,
                         Content(args=run.arguments, result=result))
        self._finish(run_id)

    @_guarded
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is not None and run.span is not None and not self._capture:
            BRIDGE.keep(run.span.get_span_context().span_id,
                         Content(args=run.arguments))
        self._finish(run_id, error)
