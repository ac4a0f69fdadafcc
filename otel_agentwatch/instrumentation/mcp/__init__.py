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

from .._base import Patch, WrappingInstrumentor

__all__ = ["MCPInstrumentor"]


class MCPInstrumentor(WrappingInstrumentor):
    """Instruments the ``mcp`` package's client (module ``mcp``)."""

    name: ClassVar[str] = "mcp"
    target_module: ClassVar[str] = "mcp"
    patches: ClassVar[tuple[Patch, ...]] = (
        Patch("mcp.client.session", "ClientSession", "call_tool", "__call__"),
    )

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("mcp >= 2.0",)

    def wrappers(self, tracer: Any, config: Any) -> Any:
        from ._tool_call import ToolCallWrapper

        return ToolCallWrapper(tracer, config)
