"""MCP client instrumentation: each ``tools/call`` request a client sends is a tool call.

``mcp.client.session.ClientSession.call_tool`` (which ``mcp.Client.call_tool`` and the
frameworks' MCP toolsets go through) becomes a ``tools/call {tool}`` span of kind
``CLIENT``, in the GenAI conventions for MCP: ``gen_ai.operation.name=execute_tool``,
``gen_ai.tool.name``, ``mcp.method.name``. It is current while the request is out, so the
``mcp`` package's own client span, and the server's span when the server shares the
process, nest under it; the processor counts what a tool call's span encloses as part of
that call, so each call is one step. The arguments and result reach the detectors in the
process, and go on the span only with content capture on; a result the server marked as
an error sets ``error.type=tool_error``.

When the call is made inside a tool span already (an agent framework's tool that calls an
MCP server: the Agents SDK's MCP servers, pydantic-ai's MCP toolsets, LangChain's MCP
adapters), no second span is made: as the conventions ask, the MCP attributes are added to
that span. Either way, with ``AGENTWATCH_ACTION=halt`` a run already stuck raises
:class:`~otel_agentwatch.AgentHalted` before the request is sent. Inside an anyio task
group (where MCP clients usually live) it arrives wrapped in a ``BaseExceptionGroup``;
see ``docs/integrations/mcp.md``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar

from opentelemetry import trace

from ...config import Config
from ...version import __version__
from .._base import Instrumentor, unwrap

__all__ = ["MCPInstrumentor"]

_SESSION = "mcp.client.session"


class MCPInstrumentor(Instrumentor):
    """Instruments the ``mcp`` package's client (module ``mcp``)."""

    name: ClassVar[str] = "mcp"
    target_module: ClassVar[str] = "mcp"

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("mcp >= 2.0",)

    def _instrument(self, *, tracer_provider: trace.TracerProvider | None = None,
                    config: Config | None = None, **_options: Any) -> None:
        import wrapt
        from mcp.client.session import ClientSession

        from ._tool_call import ToolCallWrapper

        tracer = trace.get_tracer(f"otel_agentwatch.instrumentation.{self.name}", __version__,
                                  tracer_provider)
        config = config if config is not None else Config.from_env()
        wrapt.wrap_function_wrapper(ClientSession, "call_tool", ToolCallWrapper(tracer, config))

    def _uninstrument(self) -> None:
        from mcp.client.session import ClientSession

        unwrap(ClientSession, "call_tool")
