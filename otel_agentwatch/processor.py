"""The span processor: spans in, verdicts on spans out.

``on_start`` registers the span in its run; ``on_end`` normalizes it into a step, feeds
the run's detectors, and hands the next processor either the same span (nothing found)
or a rebuilt copy carrying the ``agentwatch.*`` attributes and events. This module only
orchestrates; the work lives in :mod:`.normalize`, :mod:`.runs`, :mod:`.detectors`,
:mod:`.enrich` and :mod:`.callbacks`.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from opentelemetry import metrics
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.util.types import AttributeValue

from . import control, semconv
from ._bridge import BRIDGE, Content
from ._guard import internal_error
from .callbacks import DetectionSink, in_side_effect
from .config import Config
from .detectors import Detection, Detector, Severity, build_detectors
from .detectors.budget import consumption
from .enrich import (
    detection_events,
    flag_attributes,
    mark_open_anchor,
    rebuild,
    run_attributes,
)
from .normalize import (
    SpanShape,
    answered_tool_steps,
    build_step,
    classify,
    is_agent_span,
    tool_call_id,
    with_arguments,
)
from .normalize.messages import first_user_message
from .runs import RunState, RunTable, conversation_run
from .steps import RunKey, Step, StepKind

__all__ = ["AgentWatchSpanProcessor"]

_Read = TypeVar("_Read")
_OBJECTIVE_TRIES = 3  # model spans of a run read for a first user message, at most



class AgentWatchSpanProcessor(SpanProcessor):
    """Runs the agent failure-mode detectors over every span and flags what they find.

    Args:
        next_processor: where spans go next, usually a ``BatchSpanProcessor`` around an
            exporter. Flagged spans reach it with the ``agentwatch.*`` attributes and
            ``agentwatch.detection`` events added; other spans reach it unchanged (the
            same object). Without one, this processor still marks the runs' open agent
            or root spans, counts the metric and calls the ``on_detection`` callbacks.
        config: settings; by default read from the environment (``AGENTWATCH_*``).
        extra_detectors: your own detectors (see :class:`~otel_agentwatch.detectors.Detector`),
            run after the built-in ones that ``config`` selects.
        meter_provider: for the ``agentwatch.detections`` counter; default the global one.

    Thread-safe. Never raises into the application: an internal error is logged once
    and the span goes on; a detector that raises is disabled with one log line.
    """

    def __init__(self, next_processor: SpanProcessor | None = None, *,
                 config: Config | None = None,
                 extra_detectors: Sequence[Detector] = (),
                 meter_provider: metrics.MeterProvider | None = None) -> None:
        self._config = config if config is not None else Config.from_env()
        self._next = next_processor
        # Checked first on every span: False when disabled by configuration or shut down.
        self._active = self._config.enabled
        self._detectors: tuple[Detector, ...] = (*build_detectors(self._config),
                                                 *extra_detectors)
        self._disabled: frozenset[int] = frozenset()
        self._by_kind = self._index_by_kind()
        self._index_hooks()
        self._lock = threading.Lock()
        self._table: RunTable[RunState] = RunTable(
            self._new_run,
            max_runs=self._config.max_runs,
            ttl_seconds=self._config.run_ttl_seconds,
        )
        self._sink = DetectionSink(meter_provider)
        self._is_shutdown = False
        _reinit_after_fork(self)
        self._queries = _RunQueries(self)
        BRIDGE.attach(self._queries)

    @property
    def config(self) -> Config:
        return self._config

    @property
    def detectors(self) -> tuple[Detector, ...]:
        """The detectors still running (a detector that raised is no longer listed)."""
        return tuple(d for i, d in enumerate(self._detectors) if i not in self._disabled)

    @property
    def active_runs(self) -> int:
        """How many runs have state right now (bounded by ``AGENTWATCH_MAX_RUNS``)."""
        return len(self._table)

    @property
    def live_spans(self) -> int:
        """How many started, not yet ended spans are registered (bounded)."""
        return self._table.live_spans

    def _inspect_run(self, span_id: int,
                    reader: Callable[[Detector, Any], _Read | None]) -> list[_Read]:
        """What ``reader`` makes of each running detector's state in the run that work
        under the live span ``span_id`` belongs to (None results left out); empty when
        the run is unknown or has no state yet. Called under the processor's lock."""
        key = self._table.run_of(span_id)
        if key is None:
            return []
        with self._lock:
            run = self._table.peek(key)
            if run is None:
                return []
            read = (reader(detector, run.detector_states[index])
                    for index, detector in enumerate(self._detectors)
                    if index not in self._disabled)
            return [value for value in read if value is not None]

    # --- SpanProcessor -------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self._active and not in_side_effect.get():
            try:
                context = span.get_span_context()
                parent = span.parent
                # A model call our instrumentation announced: this is its span (ours, or
                # the SDK's own), and outside any span its conversation is its run.
                call = BRIDGE.pending_call()
                conversation = None
                if call is not None:
                    BRIDGE.keep(context.span_id, call)
                    if call.conversation is not None:
                        conversation = conversation_run(call.conversation)
                is_agent = is_agent_span(span)
                # The live-span registry needs no lock: see RunTable.
                self._table.span_started(
                    context.trace_id, context.span_id,
                    None if parent is None or parent.is_remote else parent.span_id,
                    is_agent, span, conversation,
                )
                if self._objective_watchers and (is_agent or parent is None):
                    self._objective_at_start(span, context.span_id, parent, is_agent)
            except Exception as error:
                internal_error("AgentWatchSpanProcessor.on_start", error)
        if self._next is not None:
            self._next.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        out: ReadableSpan = span
        new: Sequence[Detection] = ()
        if self._active and not in_side_effect.get():
            try:
                out, new = self._process(span)
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
        if self._next is None:
            return True
        return self._next.force_flush(timeout_millis)

    # --- the work ------------------------------------------------------------------------------

    def _new_run(self, key: RunKey) -> RunState:
        return RunState(key, [detector.new_state() for detector in self._detectors])

    def _process(self, span: ReadableSpan) -> tuple[ReadableSpan, Sequence[Detection]]:
        context = span.context
        if context is None:
            return span, ()
        trace_id, span_id = context.trace_id, context.span_id
        parent = span.parent
        run_key, is_anchor = self._table.span_ended(
            trace_id, span_id, None if parent is None or parent.is_remote else parent.span_id)
        # An anchor's own span is not a step of the run it anchors (a root agent span).
        is_step = run_key[1] != span_id
        # The anchor's own span is classified too when run judges need it at run end.
        shape = classify(span) if is_step or (is_anchor and self._finishers) else None
        step_shape = shape if is_step else None
        if step_shape is None and not is_anchor:
            return span, ()
        kept = BRIDGE.take(span_id) if step_shape is not None else None
        has_text = step_shape is not None and (
            step_shape.has_text or (kept is not None and kept.output_text is not None))
        # Build the full step (parsing arguments and results, the costly part) only if a
        # running detector watches its kind, and outside the lock.
        watchers = (self._by_kind[step_shape.kind, has_text]
                    if step_shape is not None else ())
        step = self._step(span, step_shape, run_key, kept) \
            if watchers and step_shape is not None else None
        if step_shape is not None and kept is not None and self._text_readers \
                and step_shape.kind is StepKind.LLM and not has_text:
            # The SDK's own span ended inside the call, before the reply came: the text
            # detectors get the text when the instrumentation has it.
            kept.on_late_text = functools.partial(
                self._late_text, span, step_shape, run_key, kept)
        # Tool results a model call's request carried: the tools of a hand-written loop.
        answered = answered_tool_steps(span, kept, run_key) if kept is not None else ()

        detections: list[Detection] = []
        annotations: dict[str, AttributeValue] = {}
        finished: RunState | None = None
        with self._lock:
            if step_shape is not None:
                run = self._table.state(run_key)
                if run.objective is None and self._objective_watchers:
                    self._find_objective(run, span, step_shape, kept)
                observed = step_shape.kind
                if step_shape.kind is StepKind.TOOL:
                    run.has_tool_spans = True
                elif answered and not run.has_tool_spans:
                    # Only when the run has no tool spans of its own: those describe the
                    # same calls.
                    tool_watchers = self._by_kind[StepKind.TOOL, False]
                    for tool_step in answered:
                        run.count(StepKind.TOOL)
                        detections.extend(self._observe(tool_step, run, tool_watchers))
                    observed = None  # both kinds
                run.count(step_shape.kind)
            if step is not None:
                detections.extend(self._observe(step, run, watchers))
            if self._annotators and step_shape is not None:
                annotations = self._annotate(run, observed)
            if detections:
                self._record(run, detections)
            if is_anchor:
                finished = self._table.pop((trace_id, span_id))
        if is_anchor and self._finishers:
            finished, ending = self._finish_run(span, shape, (trace_id, span_id), finished)
            detections.extend(ending)
        if not detections and not annotations and (finished is None or not finished.flagged):
            return span, ()

        attributes = flag_attributes(detections) if detections else {}
        attributes.update(annotations)
        events = detection_events(detections, span.end_time)
        if finished is not None and finished.flagged:
            attributes.update(run_attributes(finished, final=True))
            events.extend(detection_events(finished.unmarked, span.end_time))
        return rebuild(span, attributes, events), [d for d in detections if d.new]

    @staticmethod
    def _step(span: ReadableSpan, shape: SpanShape, run_key: RunKey,
              kept: Content | None) -> Step:
        step = build_step(span, shape, run_key, kept)
        if step.args_key is None and step.kind is StepKind.TOOL:
            # Another instrumentation's tool span without its arguments: those the model
            # gave the call, as our SDK instrumentation saw them.
            call_id = tool_call_id(span)
            arguments = BRIDGE.requested_call(call_id) if call_id is not None else None
            if arguments is not None:
                return with_arguments(step, arguments)
        return step

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
                detections = self._observe(step, run, self._text_readers)
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
        for detection in detections:
            run.record(detection)
            if detection.new and not mark_open_anchor(anchor, detection, run):
                run.unmarked.append(detection)

    def _finish_run(self, span: ReadableSpan, shape: SpanShape | None, key: RunKey,
                    run: RunState | None) -> tuple[RunState | None, list[Detection]]:
        """Give the detectors that judge whole runs their say, as the run's span ends."""
        if run is None and shape is None:  # no steps, and not an agent span: nothing to judge
            return None, []
        anchor = build_step(span, shape, key) if shape is not None else None
        run = run if run is not None else self._new_run(key)
        found: list[Detection] = []
        for index, detector in self._finishers:
            try:
                detection = detector.finish(anchor, run.detector_states[index])  # type: ignore[attr-defined]  # finishers have it
            except Exception as error:
                self._disable(index, detector, error)
                continue
            if detection is not None:
                found.append(detection)
                with self._lock:
                    run.record(detection)
        return run, found

    def _disable(self, index: int, detector: Detector, error: Exception) -> None:
        # Copy-on-write: other threads keep iterating the tuples they already hold.
        self._disabled = self._disabled | {index}
        self._by_kind = self._index_by_kind()
        self._index_hooks()
        internal_error(f"detector {detector.id}", error,
                       f"detector {detector.id} is disabled; spans keep flowing")

    def _index_having(self, method: str) -> tuple[tuple[int, Detector], ...]:
        """The running detectors (with their index) that have an optional ``method``:
        ``finish`` (judge a run when it ends), ``attributes`` (annotate every step they
        watch), ``objective`` (judge steps against the run's objective)."""
        return tuple((index, detector) for index, detector in enumerate(self._detectors)
                     if index not in self._disabled and hasattr(detector, method))

    def _index_hooks(self) -> None:
        self._finishers = self._index_having("finish")
        self._annotators = self._index_having("attributes")
        self._objective_watchers = self._index_having("objective")
        # The detectors a model step's text is for, and no other part of it: those that
        # judge a model call's text arriving after its span ended.
        without_text = set(self._by_kind[StepKind.LLM, False])
        self._text_readers = tuple(watcher for watcher in self._by_kind[StepKind.LLM, True]
                                   if watcher not in without_text)

    def _index_by_kind(self) -> dict[tuple[StepKind, bool],
                                     tuple[tuple[int, Detector], ...]]:
        """For each kind of step, with or without output text, the running detectors that
        want it (with their index)."""
        return {
            (kind, has_text): tuple(
                (index, detector) for index, detector in enumerate(self._detectors)
                if index not in self._disabled and kind in detector.kinds
                and (has_text or kind is not StepKind.LLM
                     or not getattr(detector, "needs_text", False))
            )
            for kind in StepKind for has_text in (False, True)
        }

    def _set_objective(self, span_id: int, text: str) -> bool:
        """Make ``text`` the objective of the run that work under the live span
        ``span_id`` belongs to; False when the span is unknown."""
        key = self._table.run_of(span_id)
        if key is None:
            return False
        BRIDGE.give_objective(key[1], text)  # for the agents nested in it, too
        with self._lock:
            self._apply_objective(self._table.state(key), text)
        return True

    def _objective_at_start(self, span: Span, span_id: int, parent: Any,
                            is_agent: bool) -> None:
        """An agent or root span's objective: its ``agentwatch.objective`` attribute, or
        else (a nested agent) the objective of the run it was started in."""
        objective = (span.attributes or {}).get(semconv.OBJECTIVE)
        if not objective and is_agent and parent is not None and not parent.is_remote:
            outer = self._table.run_of(parent.span_id)
            objective = BRIDGE.objective_of(outer[1]) if outer is not None else None
        if isinstance(objective, str) and objective:
            BRIDGE.give_objective(span_id, objective)

    def _find_objective(self, run: RunState, span: ReadableSpan, shape: SpanShape,
                        kept: Content | None) -> None:
        """The run's objective, from the first place that has one: given for its agent
        span, read off a model call's request by our instrumentation, an attribute of
        this step's span, or the first user message a model span recorded."""
        text = BRIDGE.objective_of(run.key[1])
        if text is None and kept is not None:
            text = kept.objective
        attributes = span.attributes or {}
        if text is None:
            attribute = attributes.get(semconv.OBJECTIVE)
            text = attribute if isinstance(attribute, str) else None
        if text is None and shape.kind is StepKind.LLM and run.objective_tries < _OBJECTIVE_TRIES:
            # Another instrumentation's model span, with content capture on.
            run.objective_tries += 1
            text = first_user_message(attributes)
        if text:
            self._apply_objective(run, text)

    def _apply_objective(self, run: RunState, text: str) -> None:
        run.objective = text
        for index, detector in self._objective_watchers:
            try:
                detector.objective(run.detector_states[index], text)  # type: ignore[attr-defined]  # watchers have it
            except Exception as error:
                self._disable(index, detector, error)

    def _annotate(self, run: RunState, kind: StepKind | None) -> dict[str, AttributeValue]:
        """What the annotating detectors watching ``kind`` (None: tool and model steps)
        put on the step's span (budgets: the run's consumption so far)."""
        annotations: dict[str, AttributeValue] = {}
        states = run.detector_states
        observed = (kind,) if kind is not None else (StepKind.TOOL, StepKind.LLM)
        for index, detector in self._annotators:
            if not detector.kinds.isdisjoint(observed):
                try:
                    annotations.update(detector.attributes(states[index]))  # type: ignore[attr-defined]  # annotators have it
                except Exception as error:
                    self._disable(index, detector, error)
        return annotations

    def _observe(self, step: Step, run: RunState,
                 watchers: tuple[tuple[int, Detector], ...]) -> list[Detection]:
        found: list[Detection] = []
        states = run.detector_states
        for index, detector in watchers:
            try:
                detection = detector.observe(step, states[index])
            except Exception as error:
                self._disable(index, detector, error)
                continue
            if detection is not None:
                found.append(detection)
        return found

    def _at_fork_reinit(self) -> None:
        # The parent's lock may have been held by another thread at fork time, and its
        # runs are the parent's: the child starts clean.
        self._lock = threading.Lock()
        self._table.clear()


def _reinit_after_fork(processor: AgentWatchSpanProcessor) -> None:
    if not hasattr(os, "register_at_fork"):
        return
    method = weakref.WeakMethod(processor._at_fork_reinit)

    def reinit() -> None:
        bound = method()
        if bound is not None:
            bound()

    os.register_at_fork(after_in_child=reinit)


class _RunQueries:
    """The processor's answers to the bridge's queries (:class:`~._bridge.LiveRuns`):
    what halting, budgets and objectives ask of a live run."""

    __slots__ = ("__weakref__", "_processor")

    def __init__(self, processor: AgentWatchSpanProcessor) -> None:
        self._processor = processor

    @property
    def capture_content(self) -> bool:
        return self._processor.config.capture_content

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

    def budgets(self, span_id: int) -> list[tuple[str, float, float]]:
        return self._processor._inspect_run(span_id, consumption)

    def set_objective(self, span_id: int, text: str) -> bool:
        return self._processor._set_objective(span_id, text)
