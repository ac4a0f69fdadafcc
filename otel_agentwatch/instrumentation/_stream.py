"""Streams of a traced model call: the call's span ends with the last event, an error,
``close()``, or (for a stream dropped half-read) when the stream is collected.

Proxies in the shape of the SDKs' own streams (wrapt object proxies: everything else
passes through); a failure reading an event is ours and is logged once, an error from
the stream is the application's and is raised as it came.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import wrapt

from .. import control
from .._guard import internal_error
from ._messages import StreamReader

if TYPE_CHECKING:
    from ..nudge import Nudge
    from ._model_call import Call, ModelCallWrapper

__all__ = ["TracedAsyncStream", "TracedStream", "TracedStreamManager", "is_stream"]

if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:  # wrapt's proxy is generic to type checkers only
    _Proxy = wrapt.ObjectProxy


def is_stream(result: Any) -> bool:
    # SDK Stream / AsyncStream objects: iterable, and not a response model.
    return (hasattr(result, "__next__") or hasattr(result, "__anext__")) and hasattr(
        result, "response")


class TracedStream(_Proxy):
    """An SDK stream whose events are read as the application iterates; the call's span
    ends with the last event, an error, or ``close()``."""

    def __init__(self, stream: Any, wrapper: ModelCallWrapper, call: Call,
                 reader: StreamReader) -> None:
        super().__init__(stream)
        self._self_wrapper = wrapper
        self._self_call = call
        self._self_reader = reader
        # A stream the application drops half-read, without closing it, still ends its
        # span, with what was read, when it is collected. Not at interpreter exit: the
        # tracer provider may be gone by then.
        self._self_finalizer = weakref.finalize(self, _end_stream, wrapper, call, reader)
        self._self_finalizer.atexit = False

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        try:
            event = next(self.__wrapped__)
        except StopIteration:
            self._self_end()
            raise
        except BaseException as error:
            self._self_end(error)
            raise
        self._self_read(event)
        return event

    def __enter__(self) -> Any:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_end()

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_end()

    def _self_read(self, event: Any) -> None:
        try:
            self._self_reader.add(event)
        except Exception as error:
            internal_error("stream event", error)

    def _self_end(self, error: BaseException | None = None) -> None:
        self._self_finalizer.detach()
        _end_stream(self._self_wrapper, self._self_call, self._self_reader, error)


def _end_stream(wrapper: ModelCallWrapper, call: Call, reader: StreamReader,
                   error: BaseException | None = None) -> None:
    """End a stream's call with the reply its events add up to. Never raises."""
    if call.ended:
        return
    try:
        answer = reader.reply(wrapper.capture)
    except Exception as failure:
        internal_error("stream end", failure)
        answer = None
    wrapper.finish(call, answer, error)


class TracedAsyncStream(TracedStream):
    """The async variant of :class:`TracedStream`."""

    def __aiter__(self) -> Any:
        return self

    async def __anext__(self) -> Any:
        try:
            event = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_end()
            raise
        except BaseException as error:
            self._self_end(error)
            raise
        self._self_read(event)
        return event

    async def __aenter__(self) -> Any:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_end()

    async def close(self) -> None:  # type: ignore[override]  # async, as the SDK's
        try:
            await self.__wrapped__.close()
        finally:
            self._self_end()


class TracedStreamManager(_Proxy):
    """A stream manager whose request (made on entry) is traced; the span ends on exit
    with the message accumulated so far."""

    def __init__(self, manager: Any, wrapper: ModelCallWrapper, wrapped: Any, instance: Any,
                 kwargs: Mapping[str, Any], nudge: Nudge | None = None) -> None:
        super().__init__(manager)
        self._self_wrapper = wrapper
        self._self_wrapped = wrapped
        self._self_instance = instance
        self._self_kwargs = kwargs
        self._self_nudge = nudge  # the note its request carries, marked on its span
        self._self_call: Call | None = None
        self._self_stream: Any = None

    def __enter__(self) -> Any:
        call = self._self_start()
        with self._self_noted():
            if call is None:
                return self.__wrapped__.__enter__()
            with self._self_wrapper.running(call):
                self._self_stream = self.__wrapped__.__enter__()
        return self._self_stream

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_exit(exc_info[1])

    async def __aenter__(self) -> Any:
        call = self._self_start()
        with self._self_noted():
            if call is None:
                return await self.__wrapped__.__aenter__()
            with self._self_wrapper.running(call):
                self._self_stream = await self.__wrapped__.__aenter__()
        return self._self_stream

    def _self_noted(self) -> contextlib.AbstractContextManager[None]:
        """While the request is made: its note (if it has one) is the only one (the
        helper sends it through the client's ``create``, which we wrap too)."""
        return control.noted() if self._self_nudge is not None else contextlib.nullcontext()

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_exit(exc_info[1])

    def _self_start(self) -> Call | None:
        self._self_call = call = self._self_wrapper.begin(
            self._self_wrapped, self._self_instance, self._self_kwargs)
        if self._self_nudge is not None:
            self._self_wrapper.mark(call, self._self_nudge)
        return call

    def _self_exit(self, error: BaseException | None) -> None:
        call = self._self_call
        if call is None:
            return
        wrapper = self._self_wrapper
        answer = None
        try:
            name = wrapper.api.stream_snapshot
            snapshot = getattr(self._self_stream, name, None) if name else None
            if snapshot is not None:
                answer = wrapper.api.reply(call.request, snapshot, wrapper.capture)
        except Exception as failure:
            internal_error("stream manager exit", failure)
        wrapper.finish(call, answer, error)
