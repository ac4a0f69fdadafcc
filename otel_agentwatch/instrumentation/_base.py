"""The instrumentor template: the shape of contrib's ``BaseInstrumentor``, without its
process-wide singleton and entry-point name clashes.

Subclasses name the distribution they patch (``instrumentation_dependencies``), the
module whose import activates them (``target_module``), and implement ``_instrument``
and ``_uninstrument``, which undo each other exactly.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import Any, ClassVar, NamedTuple

from .. import control
from .._guard import internal_error

__all__ = ["Instrumentor", "Patch", "Wrappers", "WrappingInstrumentor", "owner_of", "unwrap"]

logger = logging.getLogger("otel_agentwatch")

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:>=\s*([\d.]+))?\s*$")


class Instrumentor(ABC):
    """Patches one framework; ``instrument()`` and ``uninstrument()`` are idempotent."""

    name: ClassVar[str]
    target_module: ClassVar[str]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._instrumented = False

    @abstractmethod
    def instrumentation_dependencies(self) -> Collection[str]:
        """Requirements like ``"langchain-core >= 0.3"`` that must be installed."""

    @abstractmethod
    def _instrument(self, **options: Any) -> None: ...

    @abstractmethod
    def _uninstrument(self) -> None: ...

    @property
    def is_instrumented(self) -> bool:
        return self._instrumented

    def instrument(self, **options: Any) -> bool:
        """Patch the framework; False (with one log line) if it is missing or too old."""
        with self._lock:
            if self._instrumented:
                return True
            missing = self._missing_dependency()
            if missing:
                logger.info("otel-agentwatch: not instrumenting %s: %s", self.name, missing)
                return False
            try:
                self._instrument(**options)
            except Exception as error:
                internal_error(f"{type(self).__name__}.instrument", error,
                               f"{self.name} is not instrumented; the application is unaffected")
                return False
            self._instrumented = True
            return True

    def uninstrument(self) -> None:
        """Undo :meth:`instrument`."""
        with self._lock:
            if not self._instrumented:
                return
            self._instrumented = False
            self._uninstrument()

    def _missing_dependency(self) -> str | None:
        for requirement in self.instrumentation_dependencies():
            match = _REQUIREMENT.match(requirement)
            if match is None:
                continue
            distribution, minimum = match.groups()
            try:
                installed = importlib.metadata.version(distribution)
            except importlib.metadata.PackageNotFoundError:
                return f"{distribution} is not installed"
            if minimum and _version(installed) < _version(minimum):
                return f"{distribution} {installed} is older than {minimum}"
        return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def unwrap(owner: Any, attribute: str) -> None:
    """Restore ``owner.attribute`` if (and only if) it is a wrapt wrapper we can undo."""
    import wrapt

    current = owner.__dict__.get(attribute) if hasattr(owner, "__dict__") else None
    if isinstance(current, wrapt.BaseObjectProxy) and hasattr(current, "__wrapped__"):
        setattr(owner, attribute, current.__wrapped__)


class Patch(NamedTuple):
    """One function a :class:`WrappingInstrumentor` wraps."""

    module: str
    owner: str | None  # the class that defines it, or None for a module-level function
    attribute: str
    wrapper: str  # the name of its wrapper on the object ``wrappers()`` returns


class Wrappers:
    """The base of the object a :class:`WrappingInstrumentor` makes per instrumentation:
    the tracer and the halting level its wrappers share."""

    def __init__(self, tracer: Any, config: Any) -> None:
        self._tracer = tracer
        self._halt_on = control.halt_level(config)

    def _halt_if_stuck(self) -> None:
        """Before the call a wrapper traces (a tool's): :class:`~otel_agentwatch.AgentHalted`
        (the user's, so it propagates) when the run of the current span has a verdict at
        the halting level; nothing when the instrumentation only observes."""
        if self._halt_on is not None:
            control.check_current(self._halt_on)


class WrappingInstrumentor(Instrumentor):
    """An instrumentor that wraps a table of functions (:attr:`patches`), each with a
    method of one object that ``wrappers()`` makes per instrumentation."""

    patches: ClassVar[tuple[Patch, ...]]

    @abstractmethod
    def wrappers(self, tracer: Any, config: Any) -> Any:
        """The object whose methods wrap the patched functions (wrapt's signature)."""

    def _instrument(self, *, tracer_provider: Any = None, config: Any = None,
                    **_options: Any) -> None:
        import wrapt
        from opentelemetry import trace

        from ..config import Config
        from ..version import __version__

        tracer = trace.get_tracer(f"otel_agentwatch.instrumentation.{self.name}", __version__,
                                  tracer_provider)
        wrappers = self.wrappers(tracer, config if config is not None else Config.from_env())
        for patch in self.patches:
            target = owner_of(patch.module, patch.owner)
            if target is None or patch.attribute not in vars(target):
                logger.info("otel-agentwatch: %s.%s not found in this version: not traced",
                            patch.owner or patch.module, patch.attribute)
                continue
            wrapt.wrap_function_wrapper(target, patch.attribute,
                                        getattr(wrappers, patch.wrapper))

    def _uninstrument(self) -> None:
        for patch in self.patches:
            target = owner_of(patch.module, patch.owner)
            if target is not None:
                unwrap(target, patch.attribute)


def owner_of(module_name: str, owner: str | None) -> Any:
    """The class ``owner`` of the module (the module itself when None): what holds a
    function to wrap; None when this version of the package has no such module or class."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, owner, None) if owner else module
