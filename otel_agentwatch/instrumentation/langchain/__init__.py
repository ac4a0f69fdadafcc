"""LangChain and LangGraph instrumentation (through langchain-core).

One callback handler is added to every LangChain run through langchain-core's configure
hook (no monkeypatching of the callback manager). The hook is registered once per
process and reads a slot: ``uninstrument()`` empties the slot, which removes the handler
from every later run. Four methods are wrapped to mark the frames that run tools and
models (see :mod:`._frames`), the tools' two also to halt a stuck run before the tool
starts (see :mod:`._acting`), and with ``AGENTWATCH_ACTION`` including ``nudge``, two
more to add the note to a model's messages (see :mod:`._nudge`).

When the OpenInference or OpenLLMetry LangChain instrumentation is active (it wraps
``BaseCallbackManager.__init__``), no handler is added: their spans are read instead,
and a second set of spans for the same calls would be duplicates. Halting and nudging
act through their spans as through ours (see :mod:`._acting`): the wrapped methods
are there whoever traces.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from typing import Any, ClassVar

from opentelemetry import trace

from ...config import Config
from ...version import __version__
from .._base import Instrumentor, unwrap

__all__ = ["LangChainInstrumentor"]

logger = logging.getLogger("otel_agentwatch")

# (module, class, method, is_async, is_tool): a tool's is also where a halted run stops.
_WRAPPED = (
    ("langchain_core.tools.base", "BaseTool", "run", False, True),
    ("langchain_core.tools.base", "BaseTool", "arun", True, True),
    ("langchain_core.language_models.chat_models", "BaseChatModel", "generate", False, False),
    ("langchain_core.language_models.chat_models", "BaseChatModel", "agenerate", True, False),
)
# Where a chat model's converted messages pass, wrapped only when nudging.
_NUDGED = (
    ("langchain_core.language_models.chat_models", "BaseChatModel", "_generate_with_cache",
     False),
    ("langchain_core.language_models.chat_models", "BaseChatModel", "_agenerate_with_cache",
     True),
)


class _HandlerSlot:
    """What the configure hook asks for each run: our handler, or None.

    langchain-core calls ``get()`` on the registered object as on a ``ContextVar``; a
    slot shared by all threads and tasks gives every run the handler, and lets it be
    taken away again, which a registered hook cannot be.
    """

    def __init__(self) -> None:
        self.handler: Any = None
        # Set with the handler: what tells another instrumentation is active. Looked up
        # once, since get() runs for every runnable the application invokes.
        self._manager: Any = None
        self._proxy: Any = None
        self._warned = False

    def fill(self, handler: Any) -> None:
        import wrapt
        from langchain_core.callbacks.base import BaseCallbackManager

        self._manager, self._proxy = BaseCallbackManager, wrapt.BaseObjectProxy
        self.handler = handler

    def get(self) -> Any:
        handler = self.handler
        # OpenInference and OpenLLMetry wrap BaseCallbackManager.__init__ with wrapt.
        if handler is not None and isinstance(self._manager.__dict__.get("__init__"),
                                              self._proxy):
            if not self._warned:
                self._warned = True
                logger.info("otel-agentwatch: another LangChain instrumentation is active; "
                            "reading its spans instead of adding a second handler")
            return None
        return handler


_slot = _HandlerSlot()


def current_handler() -> Any:
    """Our handler while we instrument (whether or not it is the one tracing), else None."""
    return _slot.handler
_hook_lock = threading.Lock()
_hook_registered = False


def _register_hook() -> None:
    global _hook_registered
    with _hook_lock:
        if not _hook_registered:
            from langchain_core.tracers.context import register_configure_hook

            register_configure_hook(_slot, inheritable=True)  # type: ignore[arg-type]  # duck-typed ContextVar
            _hook_registered = True


class LangChainInstrumentor(Instrumentor):
    """Instruments langchain-core, which covers LangChain, LangGraph and LCEL."""

    name: ClassVar[str] = "langchain"
    target_module: ClassVar[str] = "langchain_core"
    _instruments = ("langchain-core >= 0.3",)
    _nudged: tuple[tuple[str, str, str, bool], ...] = ()  # what _instrument wrapped to nudge

    def instrumentation_dependencies(self) -> Collection[str]:
        return self._instruments

    def _instrument(self, *, tracer_provider: trace.TracerProvider | None = None,
                    config: Config | None = None, **_options: Any) -> None:
        import importlib

        import wrapt

        from ._acting import async_tool, sync_tool
        from ._frames import async_frame, sync_frame
        from ._handler import AgentWatchCallbackHandler
        from ._nudge import async_nudged, sync_nudged

        tracer = trace.get_tracer("otel_agentwatch.instrumentation.langchain", __version__,
                                  tracer_provider)
        config = config if config is not None else Config.from_env()
        _register_hook()
        for module, owner, method, is_async, is_tool in _WRAPPED:
            importlib.import_module(module)
            wrapper = (async_tool if is_async else sync_tool) if is_tool else \
                (async_frame if is_async else sync_frame)
            wrapt.wrap_function_wrapper(module, f"{owner}.{method}", wrapper)
        self._nudged = _NUDGED if config.nudges else ()
        for module, owner, method, is_async in self._nudged:
            wrapt.wrap_function_wrapper(module, f"{owner}.{method}",
                                        async_nudged if is_async else sync_nudged)
        _slot.fill(AgentWatchCallbackHandler(tracer, config))

    def _uninstrument(self) -> None:
        import importlib

        _slot.handler = None
        patched = [entry[:3] for entry in _WRAPPED] + [entry[:3] for entry in self._nudged]
        for module, owner, method in patched:
            unwrap(getattr(importlib.import_module(module), owner), method)
        self._nudged = ()
