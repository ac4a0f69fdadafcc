"""Side effects of a detection outside the span: user callbacks and the detections metric.

Both run with instrumentation suppressed in the context (OpenTelemetry's standard key,
which instrumentations honour) and with our own flag set, which the processor checks:
what a callback does (an HTTP alert, a traced helper) does not produce spans that feed
back into the detectors.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics

from . import semconv
from ._fork import renew_in_child
from .detectors.base import Detection
from .version import __version__

__all__ = ["on_detection", "remove_on_detection"]

logger = logging.getLogger("otel_agentwatch")

DetectionCallback = Callable[[Detection], None]
_Callback = TypeVar("_Callback", bound=DetectionCallback)

# Copy-on-write: dispatch iterates a tuple that registration replaces, never mutates.
_callbacks: tuple[DetectionCallback, ...] = ()
_registry_lock = threading.Lock()
_failed: set[int] = set()
renew_in_child(sys.modules[__name__],
               lambda module: setattr(module, "_registry_lock", threading.Lock()))


def on_detection(callback: _Callback) -> _Callback:
    """Call ``callback(detection)`` for every new detection, in any run.

    "New" means the first detection of a streak at a severity (see
    :attr:`Detection.new`). The callback runs on the thread that ended the span,
    after the span has been handed to the exporter; it should return quickly. An
    exception from it is logged once and otherwise ignored. Usable as a decorator;
    returns ``callback``.
    """
    global _callbacks
    if not callable(callback):
        raise TypeError(f"on_detection() needs a callable, got {type(callback).__name__}")
    with _registry_lock:
        if callback not in _callbacks:
            _callbacks = (*_callbacks, callback)
    return callback


def remove_on_detection(callback: DetectionCallback) -> None:
    """Stop calling ``callback``; does nothing if it was not registered."""
    global _callbacks
    with _registry_lock:
        _callbacks = tuple(c for c in _callbacks if c is not callback)


# Our own flag: a ContextVar lookup is far cheaper than an OpenTelemetry context lookup,
# and the processor asks on every span.
in_side_effect: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "otel_agentwatch_in_side_effect", default=False
)


@contextmanager
def suppressed() -> Iterator[None]:
    """Instrumentation suppressed, and the processor told to ignore spans, for a while."""
    token = otel_context.attach(
        otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
    )
    flag = in_side_effect.set(True)
    try:
        yield
    finally:
        in_side_effect.reset(flag)
        otel_context.detach(token)


class DetectionSink:
    """Counts detections in the ``agentwatch.detections`` metric and calls the callbacks."""

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        meter = metrics.get_meter("otel_agentwatch", __version__, meter_provider)
        self._counter = meter.create_counter(
            semconv.DETECTIONS_METRIC,
            unit="{detection}",
            description="Agent failure-mode detections, by detector and severity.",
        )

    def emit(self, detections: Iterable[Detection]) -> None:
        callbacks = _callbacks
        with suppressed():
            for detection in detections:
                self._counter.add(1, {
                    semconv.EVENT_DETECTOR: detection.detector,
                    semconv.EVENT_SEVERITY: detection.severity.value,
                })
                for callback in callbacks:
                    _call(callback, detection)


def _call(callback: DetectionCallback, detection: Detection) -> None:
    try:
        callback(detection)
    except Exception:
        key = id(callback)
        if key not in _failed:
            _failed.add(key)
            logger.warning(
                "otel-agentwatch: on_detection callback %r raised; ignored "
                "(further errors from it are logged at debug level)",
                callback, exc_info=True,
            )
        else:
            logger.debug("otel-agentwatch: on_detection callback %r raised", callback,
                         exc_info=True)
