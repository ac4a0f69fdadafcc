"""OTLP trace requests, decoded with the official protobuf classes, as SDK spans that keep
what the sender said: resource, instrumentation scope, ids, parent, trace state, links,
events, status and dropped counts, so that forwarding them changes nothing but the
verdicts added.

Attribute values the Python API cannot set but OTLP carries (maps, bytes, arrays of
mixed types) are kept as they came: the exporter's encoder writes them back as such.
Two things the official encoder does not write are lost on the way through: a link's
trace state, and the W3C trace flags in a span's ``flags`` (whether the parent is
remote is kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceProto
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import (
    InstrumentationScope as SdkScope,
)
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from ..cli.replay import RecordedSpan

__all__ = ["Decoded", "ReceivedSpan", "decode", "decode_request", "recorded"]

# OTLP's span kinds are the API's shifted by one (0 is "unspecified").
_KINDS = {1 + kind.value: kind for kind in SpanKind}
_STATUS = {code.value: code for code in StatusCode}
# Span.flags: bits 0-7 the W3C trace flags, bit 8 "is_remote is known", bit 9 is_remote.
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200


class ReceivedSpan(ReadableSpan):
    """A span as a sender exported it, with the dropped counts it reported."""

    def __init__(self, *args: Any, dropped: tuple[int, int, int] = (0, 0, 0),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._received_dropped = dropped

    @property
    def dropped_attributes(self) -> int:
        return self._received_dropped[0]

    @property
    def dropped_events(self) -> int:
        return self._received_dropped[1]

    @property
    def dropped_links(self) -> int:
        return self._received_dropped[2]


class Decoded(NamedTuple):
    """An export request's spans, and how many it held that were left out."""

    spans: list[ReceivedSpan]
    rejected: int = 0


def decode(request: ExportTraceServiceRequest) -> Decoded:
    """Every span of an export request, in the order sent, but those whose ids are not
    what OTLP prescribes (a 16-byte trace id and an 8-byte span id, not all zero; an
    8-byte parent id or none; the same for links): no backend could place them, and the
    exporter could not write them again."""
    spans: list[ReceivedSpan] = []
    rejected = 0
    for resource_spans in request.resource_spans:
        resource = _resource(resource_spans.resource, resource_spans.schema_url)
        for scope_spans in resource_spans.scope_spans:
            scope = _scope(scope_spans.scope, scope_spans.schema_url)
            for span in scope_spans.spans:
                if _valid(span):
                    spans.append(_span(span, resource, scope))
                else:
                    rejected += 1
    return Decoded(spans, rejected)


def decode_request(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """The spans :func:`decode` keeps."""
    return decode(request).spans


def _valid(span: SpanProto) -> bool:
    return _ids(span.trace_id, span.span_id) and len(span.parent_span_id) in (0, 8) and \
        all(_ids(link.trace_id, link.span_id) for link in span.links)


def _ids(trace_id: bytes, span_id: bytes) -> bool:
    return len(trace_id) == 16 and len(span_id) == 8 and any(trace_id) and any(span_id)


def recorded(span: ReadableSpan) -> RecordedSpan:
    """What the detectors replay of a received span."""
    context = span.get_span_context()
    return RecordedSpan(
        trace_id=context.trace_id if context is not None else 0,
        span_id=context.span_id if context is not None else 0,
        parent_id=span.parent.span_id if span.parent is not None else None,
        name=span.name,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or span.start_time or 0,
        attributes={key: value for key, value in (span.attributes or {}).items()
                    if _settable(value)},
        kind=span.kind,
        failed=span.status.status_code is StatusCode.ERROR,
        status_message=span.status.description,
        events=tuple((event.name, event.timestamp,
                      {key: value for key, value in (event.attributes or {}).items()
                       if _settable(value)})
                     for event in span.events),
    )


def _resource(resource: ResourceProto, schema_url: str) -> Resource:
    # Resource.create would merge in this process's defaults: the sender's is kept as is.
    return Resource(_attributes(resource.attributes), schema_url or None)


def _scope(scope: InstrumentationScope, schema_url: str) -> SdkScope:
    return SdkScope(scope.name, scope.version or None, schema_url or None,
                    _attributes(scope.attributes) or None)


def _span(span: SpanProto, resource: Resource, scope: SdkScope) -> ReceivedSpan:
    trace_id = int.from_bytes(span.trace_id, "big")
    flags = span.flags
    context = SpanContext(trace_id, int.from_bytes(span.span_id, "big"), is_remote=False,
                          trace_flags=TraceFlags(flags & 0xFF),
                          trace_state=_trace_state(span.trace_state))
    parent = None
    if span.parent_span_id:
        parent = SpanContext(trace_id, int.from_bytes(span.parent_span_id, "big"),
                             is_remote=_remote(flags))
    return ReceivedSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=_attributes(span.attributes),
        events=tuple(Event(event.name, _attributes(event.attributes),
                           event.time_unix_nano) for event in span.events),
        links=tuple(_link(link, trace_id) for link in span.links),
        kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
        status=Status(_STATUS.get(span.status.code, StatusCode.UNSET),
                      span.status.message or None),
        start_time=span.start_time_unix_nano,
        end_time=span.end_time_unix_nano,
        instrumentation_scope=scope,
        dropped=(span.dropped_attributes_count, span.dropped_events_count,
                 span.dropped_links_count),
    )


def _link(link: SpanProto.Link, trace_id: int) -> Link:
    context = SpanContext(int.from_bytes(link.trace_id, "big") or trace_id,
                          int.from_bytes(link.span_id, "big"), is_remote=_remote(link.flags),
                          trace_flags=TraceFlags(link.flags & 0xFF),
                          trace_state=_trace_state(link.trace_state))
    return Link(context, _attributes(link.attributes))


def _remote(flags: int) -> bool:
    return bool(flags & _HAS_IS_REMOTE and flags & _IS_REMOTE)


def _trace_state(header: str) -> TraceState:
    return TraceState.from_header([header]) if header else TraceState()


def _attributes(values: Iterable[KeyValue]) -> dict[str, Any]:
    return {entry.key: _value(entry.value) for entry in values}


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, which)  # string, bool, int, double, bytes


def _settable(value: Any) -> bool:
    """Whether the OpenTelemetry API could have set this attribute value (what the
    detectors are written for): not a map, not bytes, not an array of those."""
    if isinstance(value, (Mapping, bytes)):
        return False
    if isinstance(value, tuple):
        return all(isinstance(item, (str, bool, int, float)) for item in value)
    return value is not None
