"""The instrumentor shape shared by provider SDKs (OpenAI, Anthropic): a table of methods,
each wrapped by a :class:`~._model_call.ModelCallWrapper` for the API it calls."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

from opentelemetry import trace

from ..config import Config
from ..version import __version__
from ._base import Instrumentor, owner_of, unwrap
from ._messages import ModelApi
from ._model_call import ModelCallWrapper

__all__ = ["Method", "SdkInstrumentor"]


class Method(NamedTuple):
    """One SDK method to wrap."""

    module: str
    owner: str  # the resource class
    name: str
    api: str  # key into the instrumentor's APIs
    style: str  # "sync", "async", or "manager" (returns a stream context manager)


class SdkInstrumentor(Instrumentor):
    """Wraps every method in :attr:`methods`; ``apis()`` makes the readers they share."""

    methods: ClassVar[tuple[Method, ...]]

    def apis(self) -> dict[str, ModelApi]:
        raise NotImplementedError

    def _instrument(self, *, tracer_provider: trace.TracerProvider | None = None,
                    config: Config | None = None, **_options: Any) -> None:
        import wrapt

        tracer = trace.get_tracer(f"otel_agentwatch.instrumentation.{self.name}", __version__,
                                  tracer_provider)
        config = config if config is not None else Config.from_env()
        wrappers = {key: ModelCallWrapper(tracer, config, api)
                    for key, api in self.apis().items()}
        for method in self.methods:
            owner = owner_of(method.module, method.owner)
            if owner is None or method.name not in vars(owner):
                continue  # not in this version of the SDK
            wrapper = wrappers[method.api]
            function = {"sync": wrapper.__call__, "async": wrapper.call_async,
                        "manager": wrapper.stream_manager}[method.style]
            wrapt.wrap_function_wrapper(owner, method.name, function)

    def _uninstrument(self) -> None:
        for method in self.methods:
            owner = owner_of(method.module, method.owner)
            if owner is not None:
                unwrap(owner, method.name)
