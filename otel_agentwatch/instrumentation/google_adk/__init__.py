"""Google ADK instrumentation: ADK's own GenAI spans, with the run's content kept in the
process and halting before a tool runs.

ADK traces itself in the GenAI conventions, on by default, through the global tracer
provider: ``invoke_workflow`` > ``invoke_agent {name}`` > ``generate_content {model}`` and
``execute_tool {tool}``. We add no span. Unless ADK's own content capture is
``SPAN_ONLY``/``SPAN_AND_EVENT``, its tool spans carry no arguments or results, so a
plugin of ours (an ADK ``BasePlugin``) joins every runner: ``PluginManager.__init__`` is
wrapped to register it, so the application passes nothing. Its callbacks run inside ADK's
spans: ``before_agent_callback`` gives the run its objective (the user's message), the tool
callbacks hand each call's arguments and result to the detectors through the bridge (and
put them on the span when our content capture is on and ADK's is not), and with
``AGENTWATCH_ACTION=halt`` ``before_tool_callback`` raises
:class:`~otel_agentwatch.AgentHalted` before the tool runs. ``Runner.run_async`` raises it
unchanged; the synchronous ``Runner.run`` turns every ``BaseException`` of the run into
``RuntimeError("Agent run terminated by AgentHalted.")`` with the halt as its
``__cause__``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, ClassVar

from opentelemetry import trace

from ...config import Config
from .._base import Instrumentor, unwrap

if TYPE_CHECKING:  # the module imports ADK: only once the application has
    from ._plugin import WatchPlugin

__all__ = ["GoogleADKInstrumentor"]


class GoogleADKInstrumentor(Instrumentor):
    """Instruments the ``google-adk`` package (module ``google.adk``)."""

    name: ClassVar[str] = "google_adk"
    target_module: ClassVar[str] = "google.adk"

    def __init__(self) -> None:
        super().__init__()
        self._plugin: WatchPlugin | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("google-adk >= 2.13",)

    def _instrument(self, *, tracer_provider: trace.TracerProvider | None = None,
                    config: Config | None = None, **_options: Any) -> None:
        import wrapt
        from google.adk.plugins.plugin_manager import PluginManager

        from ._plugin import WatchPlugin

        config = config if config is not None else Config.from_env()
        plugin = self._plugin = WatchPlugin(config)

        def register(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
            wrapped(*args, **kwargs)
            plugin.join(instance)

        wrapt.wrap_function_wrapper(PluginManager, "__init__", register)

    def _uninstrument(self) -> None:
        from google.adk.plugins.plugin_manager import PluginManager

        unwrap(PluginManager, "__init__")
        if self._plugin is not None:
            # Runners built meanwhile keep the plugin (ADK cannot remove one): it goes quiet.
            self._plugin.active = False
            self._plugin = None
