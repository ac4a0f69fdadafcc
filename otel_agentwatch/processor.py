"""The span processor: spans in, verdicts on spans out.

``on_start`` registers the span in its run; ``on_end`` normalizes it into a step, hands it
to the detector engine, and gives the next processor either the same span (nothing
found) or a rebuilt copy carrying the ``agentwatch.*`` attributes and events. This module
only orchestrates: spans become steps in :mod:`.normalize`, runs are kept by
:mod:`.runs`, detectors run in :mod:`.detectors.engine`, verdicts are written by
:mod:`.enrich` and sent out by :mod:`.callbacks`; instrumentation is heard through
:mod:`._bridge`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.util.types import AttributeValue

from . import control, objective
from ._bridge import BRIDGE, Content
from ._deadline import BoundedFlush
from ._fork import renew_in_child
from ._guard import internal_error
from .callbacks import DetectionSink, in_side_effect
from .config import Config
from .detectors import Detection, Detector, DetectorEngine, Severity
from .detectors.budget import consumption
from .digest import Digester, content_digests
from .enrich import detection_events, flag_attributes, mark_open_anchor, rebuild, run_attributes
from .normalize import (
    ROLE_AGENT,
    ROLE_TOOL,
    SpanShape,
    answered_tool_steps,
    build_step,
    classify,
    code_reading,
    code_steps,
    role_at_start,
    tool_call_id,
    with_arguments,
)
from .normalize.codeact import NAMES_LIMIT, CodeNames, CodeReading, runs_code
from .nudge import Nudge, NudgeTemplate, NudgeWriter
from .runs import RunState, RunTable, conversation_run
from .steps import RunKey, Step, StepKind

__all__ = ["AgentWatchSpanProcessor"]

_TOOL_AND_MODEL = frozenset({StepKind.TOOL, StepKind.LLM})
_NAMED_CALLS = frozenset({StepKind.TOOL, StepKind.AGENT})  # what code may call by name
_KIND_ALONE = {kind: frozenset({kind}) for kind in StepKind}
_NONE: list[Detection] = []  # shared "nothing found": never appended to


class AgentWatchSpanProcessor(SpanProcessor):
    """Runs the agent failure-mode detectors over every span and flags what they find.

    Args:
        next_processor: where spans go next, usually a ``BatchSpanProcessor`` around an
            exporter. Flagged spans reach it with the ``agentwatch.*`` attributes and
            ``agentwatch.detection`` events added; other spans reach it unchanged (the
            same object). Without one, this processor still marks the runs' open agent
            or root spans, counts the metric and calls the ``on_detection`` callbacks.
        config: settings; by default read from the environment (``AGENTWATCH_*``).
        extra_detectors: your own detectors (:class:`~otel_agentwatch.Detector`
            instances, or subclasses to build from their settings), run after those
            ``config`` selects, whatever it selects.
        meter_provider: for the ``agentwatch.detections`` counter; default the global one.
        nudge_templates: with ``AGENTWATCH_ACTION`` including ``nudge``, the wording of
            the notes by detector id or failure mode (text, or a callable of the
            detection; see :mod:`otel_agentwatch.nudge`), over the built-in wordings and
            the ``AGENTWATCH_NUDGE_TEMPLATE_*`` settings.

    Raises :class:`~otel_agentwatch.ConfigError` on bad configuration, ``TypeError`` for
    something in ``extra_detectors`` that is not a detector. Thread-safe. Never raises
    into the application afterwards: an internal error is logged once and the span goes
    on; a detector that raises loses that step (after three failures, the rest of that
    run) and no other run.
    """

    def __init__(self, next_processor: SpanProcessor | None = None, *,
                 config: Config | None = None,
                 extra_detectors: Iterable[Detector[Any] | type[Detector[Any]]] = (),
                 meter_provider: metrics.MeterProvider | None = None,
                 nudge_templates: Mapping[str, NudgeTemplate] | None = None) -> None:
        self._config = config if config is not None else Config.from_env()
        self._next = next_processor
        self._engine = DetectorEngine.from_config(self._config, extra_detectors)
        # With nudging: the rank from which new detections are told to the model.
        nudges = self._config.nudges
        self._tell_level = Severity(self._config.nudge_on).rank if nudges else None
        self._writer = NudgeWriter.from_config(self._config, nudge_templates) \
            if nudges else None
        # With capture off: what stands for a tool call's content on its exported span.
        self._digester = Digester(self._config.digest_key or None) \
            if self._config.digests and not self._config.capture_content else None
        # Checked first on every span: False when disabled by configuration or shut down.
        self._active = self._config.enabled
        self._lock = threading.Lock()
        engine = self._engine
        self._table: RunTable[RunState] = RunTable(
            lambda key: RunState(key, engine.new_run(key[0])),
            max_runs=self._config.max_runs,
            ttl_seconds=self._config.run_ttl_seconds,
        )
        self._sink = DetectionSink(meter_provider)
        self._is_shutdown = False
        renew_in_child(self, AgentWatchSpanProcessor._at_fork_reinit)
        self._flush = BoundedFlush(next_processor.force_flush, "force_flush") \
            if next_processor is not None else None
        self._queries = _RunQueries(self)
        BRIDGE.attach(self._queries)
        self._announced = BRIDGE.announced  # read on every span start
        self._capture = self._config.capture_content

    @property
    def config(self) -> Config:
        return self._config

    @property
    def detectors(self) -> tuple[Detector[Any], ...]:
        """The detectors that judge this processor's runs."""
        return self._engine.detectors

    @property
    def active_runs(self) -> int:
        """How many runs have state right now (bounded by ``AGENTWATCH_MAX_RUNS``)."""
        return len(self._table)

    @property
    def live_spans(self) -> int:
        """How many started, not yet ended spans are registered (bounded)."""
        return self._table.live_spans

    # --- SpanProcessor -------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self._active and not in_side_effect.get():
            try:
                self._start(span, parent_context)
            except Exception as error:
                internal_error("AgentWatchSpanProcessor.on_start", error)
        if self._next is not None:
            self._next.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        out: ReadableSpan = span
        new: Sequence[Detection] = ()
        if self._active and not in_side_effect.get():
            try:
                out, new = self._end(span)
            except Exception as error:
                internal_error("AgentWatchSpanProcessor.on_end", error)
        if self._next is not None:
            self._next.on_end(out)
        if new:
            try:
                self._sink.emit(new)
            except Exception as error:
                internal_error("AgentWatchSpanProcessor.emit", error)

    def shutdown(self) -> None:
        if self._is_shutdown:
            return
        self._is_shutdown = True
        self._active = False
        with self._lock:
            self._table.clear()
        if self._next is not None:
            self._next.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the processor behind this one; False if that took longer than
        ``timeout_millis`` (it goes on in the background) or failed."""
        if self._flush is None:
            return True
        return self._flush(timeout_millis)

    # --- a span starts -------------------------------------------------------------------

    def _start(self, span: Span, parent_context: Context | None) -> None:
        context = span.get_span_context()
        span_id = context.span_id
        if self._capture:  # content may go on this span (see Bridge.captures)
            BRIDGE.capturing(span_id)
        parent = span.parent
        parent_id = None if parent is None or parent.is_remote else parent.span_id
        # A model call our instrumentation announced: this is its span (ours, or the
        # SDK's own), and outside any span its conversation is its run.
        call = self._announced.get()
        conversation = None
        if call is not None and call.span_id is None:  # not claimed by an enclosing span
            BRIDGE.keep(span_id, call)
            if call.conversation is not None:
                conversation = conversation_run(call.conversation)
            if call.on_claimed is not None:
                call.on_claimed(span)
        role = role_at_start(span)
        is_agent = role == ROLE_AGENT
        if role == ROLE_TOOL and parent is not None and parent.is_remote and \
                conversation is None:
            # A tool run here for an agent in another process (a worker taking jobs with
            # the caller's context): a step of that agent's run, continued here, which
            # ends by eviction as it has no span here.
            conversation = (context.trace_id, parent.span_id)
        # The live-span registry needs no lock: see RunTable.
        # An agent span whose GenAI attributes were set after it started (CrewAI's own,
        # say) is known by the time its first child starts.
        self._table.span_started(context.trace_id, span_id, parent_id, is_agent, span,
                                 conversation, role == ROLE_TOOL, _late_agent, parent_context)
        if (is_agent or parent_id is None) and self._engine.wants_objective:
            outer = self._table.run_of(parent_id) if is_agent and parent_id is not None \
                else None
            text = objective.given_at_start(span.attributes, outer[1] if outer else None,
                                            BRIDGE)
            if text is not None:
                BRIDGE.give_objective(span_id, text)  # for nested agents too

    # --- a span ends ---------------------------------------------------------------------

    def _end(self, span: ReadableSpan) -> tuple[ReadableSpan, Sequence[Detection]]:
        context = span.context
        if context is None:
            return span, ()
        trace_id, span_id = context.trace_id, context.span_id
        if self._capture:
            BRIDGE.captured(span_id)
        parent = span.parent
        local_parent = None if parent is None or parent.is_remote else parent.span_id
        run_key, is_anchor, in_tool = self._table.span_ended(trace_id, span_id, local_parent)
        detections: list[Detection] = _NONE
        annotations: dict[str, AttributeValue] | None = None
        shape = None
        # An anchor's own span is not a step of the run it anchors (a root agent span);
        # a nested agent's is a step of its caller's run as well.
        if run_key[1] != span_id:
            shape = classify(span)
            if shape is not None and in_tool and shape.kind is StepKind.TOOL:
                # A tool span inside another tool call (the MCP request a framework's
                # tool makes, a framework's own span under OpenInference's) is the same
                # call: one step, the enclosing one.
                BRIDGE.take(span_id)
                shape = None
            if shape is not None:
                detections, annotations = self._step(span, span_id, shape, run_key)
        finished: RunState | None = None
        if is_anchor:
            finished, ending = self._end_run(span, shape, (trace_id, span_id),
                                             local_parent is None)
            if ending:
                detections = [*detections, *ending]
        summed = finished is not None and (finished.detected or finished.nudges > 0)
        if not detections and not annotations and not summed:
            return span, ()
        attributes = flag_attributes(detections) if detections else {}
        if annotations:
            attributes.update(annotations)
        events = detection_events(detections, span.end_time)
        if finished is not None and summed:
            attributes.update(run_attributes(finished, final=True))
            events.extend(detection_events(finished.unmarked or (), span.end_time))
        return rebuild(span, attributes, events), [d for d in detections if d.new]

    def _step(self, span: ReadableSpan, span_id: int, shape: SpanShape, run_key: RunKey,
              ) -> tuple[list[Detection], dict[str, AttributeValue] | None]:
        """Judge the step a span describes, in its run."""
        engine = self._engine
        kind = shape.kind
        kept = BRIDGE.take(span_id)
        has_text = shape.has_text or (kept is not None and kept.output_text is not None)
        # The full step (arguments and results parsed: the costly part) only if a running
        # detector watches its kind or its content is to be digested, and outside the lock.
        # Digested: content the span does not carry, known in-process (kept by our
        # instrumentation, or the arguments the model asked for); a span that carries its
        # own content passes on unchanged.
        digester = self._digester if kind is StepKind.TOOL else None
        step = build_step(span, shape, run_key, kept) \
            if engine.by_kind[kind, has_text] or digester is not None else None
        in_process = kept is not None
        if step is not None and step.args_key is None and kind is StepKind.TOOL:
            requested = _with_requested_arguments(span, step)
            in_process = in_process or requested is not step
            step = requested
        digests = content_digests(step, digester) \
            if step is not None and digester is not None and in_process else None
        # The code a code-running tool ran, parsed outside the lock.
        code = code_reading(step) if step is not None and kind is StepKind.TOOL and \
            runs_code(step.name) else None
        answered: Sequence[tuple[str, Step]] = ()  # (call id, step)
        if kept is not None:
            if kind is StepKind.LLM and not has_text and engine.reads_late_text:
                # The SDK's own span ended inside the call, before the reply came: the
                # text detectors get the text when the instrumentation has it.
                kept.on_late_text = functools.partial(
                    self._late_text, span, shape, run_key, kept)
            if kept.answered:  # tool results the request carried: a hand-written loop
                answered = tuple(zip((exchange.call_id for exchange in kept.answered),
                                     answered_tool_steps(span, kept, run_key), strict=True))
        detections = _NONE
        annotations = None
        with self._lock:
            run = self._table.state(run_key)
            if run.objective is None and engine.wants_objective:
                self._find_objective(run, span, kind, kept)
            observed = _KIND_ALONE[kind]
            if kind is StepKind.TOOL:
                run.has_tool_spans = True
            elif answered and not run.has_tool_spans:
                # Only when the run has no tool spans of its own: those are the same calls.
                # Each call once: a request may resend the whole history (the Responses
                # API without previous_response_id).
                detections = []
                for call_id, tool_step in answered:
                    if not run.first_answer(call_id):
                        continue
                    run.count(StepKind.TOOL)
                    detections += engine.observe(tool_step, run.detectors)
                observed = _TOOL_AND_MODEL
            run.count(kind)
            if step is not None:
                steps: Sequence[Step] = (step,)
                if kind in _NAMED_CALLS:
                    names = run.code_names
                    if names is None:
                        names = run.code_names = CodeNames()
                    if code is not None:  # CodeAct: the calls the code made are the steps
                        steps = self._code_steps(run, step, code, names)
                    elif len(names.traced) < NAMES_LIMIT:
                        names.traced.add(step.name)  # the code's calls of it are this step
                for each in steps:
                    found = engine.observe(each, run.detectors, has_text)
                    if found:
                        detections = [*detections, *found]
            if engine.annotates:
                annotations = engine.annotate(run.detectors, observed)
            if detections:
                self._record(run, detections)
        if digests:
            annotations = {**annotations, **digests} if annotations else digests
        return detections, annotations

    @staticmethod
    def _code_steps(run: RunState, step: Step, code: CodeReading,
                    names: CodeNames) -> Sequence[Step]:
        """The steps of a code-running tool's step: the tool calls and shell commands
        its code made, or the step itself when it made none we can read (under the
        lock)."""
        made = code_steps(step, names.tool_calls(code), code.commands)
        for _ in made[1:]:
            run.count(StepKind.TOOL)
        return made or (step,)

    def _end_run(self, span: ReadableSpan, shape: SpanShape | None, key: RunKey,
                 trace_root: bool) -> tuple[RunState | None, list[Detection]]:
        """Forget the run a span anchored (and, at the trace's root in this process, what
        its runs shared); the run judges give their say as it ends."""
        engine = self._engine
        with self._lock:
            run = self._table.pop(key)
            if trace_root:
                engine.end_trace(key[0])
        if not engine.judges_runs:
            return run, []
        if shape is None:
            shape = classify(span)
        if run is None and shape is None:  # no steps, and not an agent span: nothing to judge
            return None, []
        anchor = build_step(span, shape, key) if shape is not None else None
        with self._lock:
            run = run if run is not None else RunState(key, engine.new_run(key[0]))
            found = engine.finish(anchor, run.detectors)
            for detection in found:
                run.record(detection)
        return run, found

    def _late_text(self, span: ReadableSpan, shape: SpanShape, run_key: RunKey,
                   kept: Content, text: str) -> None:
        """A model call's text, arrived after its span ended, for the detectors that read
        text. What they find goes on the run's open agent span and to the callbacks; the
        call's own span has been exported already. Never raises."""
        if not self._active:
            return
        try:
            step = build_step(span, shape, run_key, kept)._replace(output_text=text)
            with self._lock:
                run = self._table.state(run_key)
                detections = self._engine.observe_late_text(step, run.detectors)
                self._record(run, detections)
            new = [detection for detection in detections if detection.new]
            if new:
                self._sink.emit(new)
        except Exception as error:
            internal_error("AgentWatchSpanProcessor.late_text", error)

    def _record(self, run: RunState, detections: Sequence[Detection]) -> None:
        """Keep a run's detections, and put the new ones on its open agent or root span
        (the caller holds the lock)."""
        anchor = self._table.live_span(run.key[1]) if detections else None
        tell = self._tell_level
        for detection in detections:
            run.record(detection)
            if detection.new and not mark_open_anchor(anchor, detection, run):
                run.leave_unmarked(detection)
            if tell is not None and detection.new and detection.severity.rank >= tell:
                run.to_tell(detection)

    # --- objectives ----------------------------------------------------------------------

    def _find_objective(self, run: RunState, span: ReadableSpan, kind: StepKind,
                        kept: Content | None) -> None:
        """The run's objective, from the first step that tells it (the caller holds the
        lock)."""
        read_messages = kind is StepKind.LLM and run.objective_tries < objective.MODEL_SPANS_READ
        if read_messages:
            run.objective_tries += 1
        text = objective.of_step(run.key[1], span.attributes or {}, kept, read_messages,
                                 BRIDGE)
        if text:
            run.objective = text
            self._engine.set_objective(run.detectors, text)

    def _set_objective(self, span_id: int, text: str) -> bool:
        """Make ``text`` the objective of the run that work under the live span
        ``span_id`` belongs to; False when the span is unknown."""
        key = self._table.run_of(span_id)
        if key is None:
            return False
        BRIDGE.give_objective(key[1], text)  # for the agents nested in it, too
        with self._lock:
            run = self._table.state(key)
            run.objective = text
            self._engine.set_objective(run.detectors, text)
        return True

    # --- fork ----------------------------------------------------------------------------

    def _at_fork_reinit(self) -> None:
        # The parent's lock may have been held by another thread at fork time, and its
        # runs are the parent's: the child starts clean.
        self._lock = threading.Lock()
        self._table.clear()
        self._engine.clear_traces()


def _late_agent(parent_context: Context | None, parent_id: int) -> Span | None:
    """The parent span (current in ``parent_context``) if it is ``parent_id`` and is an
    agent's by now, else None."""
    parent = trace.get_current_span(parent_context)
    if parent.get_span_context().span_id == parent_id and role_at_start(parent) == ROLE_AGENT:
        return parent  # type: ignore[return-value]  # an SDK span: it is recording
    return None


def _with_requested_arguments(span: ReadableSpan, step: Step) -> Step:
    """Another instrumentation's tool span without its arguments: with those the model
    gave the call, as our SDK instrumentation saw them, if it did."""
    call_id = tool_call_id(span)
    arguments = BRIDGE.requested_call(call_id) if call_id is not None else None
    return with_arguments(step, arguments) if arguments is not None else step


class _RunQueries:
    """The processor's answers to the bridge's queries (:class:`~._bridge.LiveRuns`):
    what halting, budgets and objectives ask of a live run."""

    __slots__ = ("__weakref__", "_processor")

    def __init__(self, processor: AgentWatchSpanProcessor) -> None:
        self._processor = processor

    def halt_level(self) -> Severity | None:
        return control.halt_level(self._processor.config)

    def verdict(self, span_id: int | None, run: RunKey | None = None) -> Detection | None:
        processor = self._processor
        key = processor._table.run_of(span_id) if span_id is not None else run
        if key is None:
            return None
        with processor._lock:
            state = processor._table.peek(key)
            return state.worst if state is not None else None

    def take_nudge(self, span_id: int | None, run: RunKey | None = None) -> Nudge | None:
        processor = self._processor
        writer = processor._writer
        if writer is None:
            return None
        key = processor._table.run_of(span_id) if span_id is not None else run
        if key is None:
            return None
        with processor._lock:
            state = processor._table.peek(key)
            if state is None:
                return None
            findings = state.take_untold()
            if not findings and not writer.budget_always:
                return None
            budgets = processor._engine.read(state.detectors, consumption)
        nudge = writer.write(findings, budgets)  # outside the lock: templates are the user's
        if nudge is not None:
            with processor._lock:
                state.nudges += 1
        return nudge

    def budgets(self, span_id: int) -> list[tuple[str, float, float]]:
        processor = self._processor
        key = processor._table.run_of(span_id)
        if key is None:
            return []
        with processor._lock:
            run = processor._table.peek(key)
            return processor._engine.read(run.detectors, consumption) if run is not None else []

    def set_objective(self, span_id: int, text: str) -> bool:
        return self._processor._set_objective(span_id, text)
