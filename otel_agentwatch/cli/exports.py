"""Exported traces read back as :class:`~otel_agentwatch.replay.RecordedSpan`: OTLP JSON and
Jaeger JSON.

* OTLP JSON: ``{"resourceSpans": [...]}`` export requests, one document or one per line
  (the OpenTelemetry Collector's file exporter). Ids in hex, as the OTLP/JSON encoding
  has them, or in base64, as protobuf's generic JSON mapping writes them.
* Jaeger JSON: ``{"data": [trace, ...]}``, as Jaeger's UI downloads a trace and its API
  returns a search; times in microseconds, parents from ``CHILD_OF`` references.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind

from .replay import RecordedSpan

__all__ = ["UnknownFormat", "read_spans"]

_OTLP_KINDS = {1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT,
               4: SpanKind.PRODUCER, 5: SpanKind.CONSUMER}
_KIND_NAMES = {"SPAN_KIND_" + kind.name: kind for kind in SpanKind} | {
    kind.name.lower(): kind for kind in SpanKind}


class UnknownFormat(ValueError):
    """The file is neither OTLP JSON nor Jaeger JSON."""


def read_spans(path: Path) -> Iterator[RecordedSpan]:
    """Every span in the file. Raises :class:`UnknownFormat` (or ``OSError``)."""
    text = path.read_text(encoding="utf-8")
    try:
        documents: list[Any] = [json.loads(text)]
    except ValueError:
        try:
            documents = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as error:
            raise UnknownFormat(f"{path}: not JSON nor JSON lines ({error})") from None
    for document in documents:
        if isinstance(document, Mapping) and "resourceSpans" in document:
            yield from _otlp_spans(document)
        elif isinstance(document, Mapping) and isinstance(document.get("data"), list):
            for trace_record in document["data"]:
                yield from _jaeger_spans(trace_record)
        elif isinstance(document, Mapping) and "spans" in document and "traceID" in document:
            yield from _jaeger_spans(document)  # a single Jaeger trace
        else:
            raise UnknownFormat(f"{path}: neither OTLP JSON (resourceSpans) nor Jaeger JSON "
                                "(data[].spans)")


# --- OTLP JSON ------------------------------------------------------------------------------

def _otlp_spans(request: Mapping[str, Any]) -> Iterator[RecordedSpan]:
    for resource_spans in request.get("resourceSpans") or ():
        for scope_spans in resource_spans.get("scopeSpans") or ():
            for span in scope_spans.get("spans") or ():
                status = span.get("status") or {}
                code = status.get("code")
                yield RecordedSpan(
                    trace_id=_otlp_id(span.get("traceId")),
                    span_id=_otlp_id(span.get("spanId")),
                    parent_id=_otlp_id(span.get("parentSpanId")) or None,
                    name=str(span.get("name") or ""),
                    start_ns=int(span.get("startTimeUnixNano") or 0),
                    end_ns=int(span.get("endTimeUnixNano") or 0),
                    attributes=_otlp_attributes(span.get("attributes")),
                    kind=_otlp_kind(span.get("kind")),
                    failed=code in (2, "STATUS_CODE_ERROR"),
                    status_message=status.get("message"),
                    events=tuple((str(event.get("name") or ""),
                                  int(event.get("timeUnixNano") or 0),
                                  _otlp_attributes(event.get("attributes")))
                                 for event in span.get("events") or ()),
                )


def _otlp_id(value: Any) -> int:
    if not value:
        return 0
    text = str(value)
    if len(text) in (16, 32):
        try:
            return int(text, 16)
        except ValueError:
            pass
    try:
        return int.from_bytes(base64.b64decode(text, validate=True), "big")
    except (binascii.Error, ValueError):
        return 0


def _otlp_kind(value: Any) -> SpanKind:
    if isinstance(value, int):
        return _OTLP_KINDS.get(value, SpanKind.INTERNAL)
    return _KIND_NAMES.get(str(value), SpanKind.INTERNAL)


def _otlp_attributes(values: Any) -> dict[str, Any]:
    return {str(entry.get("key")): _otlp_value(entry.get("value"))
            for entry in values or () if isinstance(entry, Mapping)}


def _otlp_value(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])  # a string in OTLP JSON: int64
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        items = [_otlp_value(item) for item in (value["arrayValue"] or {}).get("values") or ()]
        return tuple(item for item in items if item is not None)
    return None  # kvlist and bytes values: not attribute types the detectors read


# --- Jaeger JSON ------------------------------------------------------------------------------

def _jaeger_spans(trace_record: Mapping[str, Any]) -> Iterator[RecordedSpan]:
    for span in trace_record.get("spans") or ():
        tags = {str(tag.get("key")): tag.get("value") for tag in span.get("tags") or ()}
        parent = next((ref.get("spanID") for ref in span.get("references") or ()
                       if ref.get("refType") == "CHILD_OF"), None)
        start_us = int(span.get("startTime") or 0)
        failed = tags.pop("otel.status_code", None) == "ERROR" or tags.get("error") is True
        yield RecordedSpan(
            trace_id=int(str(span.get("traceID") or trace_record.get("traceID") or "0"), 16),
            span_id=int(str(span.get("spanID") or "0"), 16),
            parent_id=int(parent, 16) if parent else None,
            name=str(span.get("operationName") or ""),
            start_ns=start_us * 1000,
            end_ns=(start_us + int(span.get("duration") or 0)) * 1000,
            attributes={k: v for k, v in tags.items()
                        if k not in ("span.kind", "error", "otel.status_description")},
            kind=_KIND_NAMES.get(str(tags.get("span.kind")), SpanKind.INTERNAL),
            failed=failed,
            status_message=tags.get("otel.status_description"),
            events=tuple(_jaeger_log(log) for log in span.get("logs") or ()),
        )


def _jaeger_log(log: Mapping[str, Any]) -> tuple[str, int, dict[str, Any]]:
    fields = {str(field.get("key")): field.get("value") for field in log.get("fields") or ()}
    name = str(fields.pop("event", "log"))
    return name, int(log.get("timestamp") or 0) * 1000, fields
