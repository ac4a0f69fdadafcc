"""Attribute names: the ones we emit (``agentwatch.*``) and the ones we read.

The ``agentwatch.*`` names are public contract (dashboards and saved queries rely on
them). The ``gen_ai.*`` names follow the OpenTelemetry GenAI semantic conventions; they
are spelled out here instead of imported from ``opentelemetry.semconv._incubating``,
whose module path is private and moves between releases. A test checks them against
the installed semantic-conventions package.
"""

from __future__ import annotations

from typing import Final

# --- what a detection adds to the span that triggered it --------------------------------
FLAGGED: Final = "agentwatch.flagged"
DETECTIONS: Final = "agentwatch.detections"
FAILURE_MODE: Final = "agentwatch.failure_mode"
SEVERITY: Final = "agentwatch.severity"
MAST_CODES: Final = "agentwatch.mast_codes"

# --- the span event, one per detection ---------------------------------------------------
DETECTION_EVENT: Final = "agentwatch.detection"
EVENT_DETECTOR: Final = "agentwatch.detector"
EVENT_FAILURE_MODE: Final = FAILURE_MODE
EVENT_SEVERITY: Final = SEVERITY
EVENT_SCORE: Final = "agentwatch.score"
EVENT_MESSAGE: Final = "agentwatch.message"
EVENT_MAST_CODES: Final = MAST_CODES
EVENT_EVIDENCE_PREFIX: Final = "agentwatch.evidence."

# --- what a run was asked to do (set by the application, read by drift.objective) ---------
OBJECTIVE: Final = "agentwatch.objective"

# --- the run's agent or root span ---------------------------------------------------------
RUN_FLAGGED: Final = "agentwatch.run.flagged"
RUN_DETECTIONS: Final = "agentwatch.run.detections"
RUN_SEVERITY: Final = "agentwatch.run.severity"
RUN_FAILURE_MODE: Final = "agentwatch.run.failure_mode"
RUN_DETECTION_COUNT: Final = "agentwatch.run.detection_count"
RUN_STEPS: Final = "agentwatch.run.steps"
RUN_TOOL_CALLS: Final = "agentwatch.run.tool_calls"
RUN_LLM_CALLS: Final = "agentwatch.run.llm_calls"

# --- tool spans with content capture off: keyed digests of what was not exported -------------
TOOL_ARGUMENTS_DIGEST: Final = "agentwatch.tool.arguments_digest"
TOOL_RESULT_DIGEST: Final = "agentwatch.tool.result_digest"

# --- a note the harness added to a model request (AGENTWATCH_ACTION=nudge) ------------------
NUDGE_EVENT: Final = "agentwatch.nudge"  # on the model span that carried it
NUDGE_DETECTIONS: Final = DETECTIONS  # the ids of the detections it told of
NUDGE_FAILURE_MODES: Final = "agentwatch.nudge.failure_modes"
NUDGE_BUDGET: Final = "agentwatch.nudge.budget"  # whether it stated the budget left
NUDGE_TEXT: Final = "agentwatch.nudge.text"  # with content capture on only
RUN_NUDGES: Final = "agentwatch.run.nudges"  # notes given to the run's model requests

# --- model calls: the tool calls a response asked for (names and ids, never arguments) ------
REQUESTED_TOOL_NAMES: Final = "agentwatch.requested_tools"
REQUESTED_TOOL_CALL_IDS: Final = "agentwatch.requested_tool_call_ids"

# --- metric --------------------------------------------------------------------------------
DETECTIONS_METRIC: Final = "agentwatch.detections"

# --- GenAI semantic conventions -------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # deprecated predecessor of provider.name
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"  # deprecated spelling
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"  # deprecated spelling
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
ERROR_TYPE: Final = "error.type"

OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_CREATE_AGENT: Final = "create_agent"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"  # several agents run by a framework (a crew)

# --- Model Context Protocol (the GenAI conventions' MCP spans) ------------------------------
MCP_METHOD_NAME: Final = "mcp.method.name"
MCP_SESSION_ID: Final = "mcp.session.id"
MCP_PROTOCOL_VERSION: Final = "mcp.protocol.version"
JSONRPC_REQUEST_ID: Final = "jsonrpc.request.id"
MCP_TOOLS_CALL: Final = "tools/call"

# --- OpenInference ------------------------------------------------------------------------
OI_SPAN_KIND: Final = "openinference.span.kind"
OI_TOOL_NAME: Final = "tool.name"
OI_TOOL_CALL_ID: Final = "tool_call.id"
OI_INPUT_VALUE: Final = "input.value"
OI_OUTPUT_VALUE: Final = "output.value"
OI_MODEL_NAME: Final = "llm.model_name"
OI_PROVIDER: Final = "llm.provider"
OI_TOKENS_PROMPT: Final = "llm.token_count.prompt"
OI_TOKENS_COMPLETION: Final = "llm.token_count.completion"
OI_TOKENS_REASONING: Final = "llm.token_count.completion_details.reasoning"
OI_AGENT_NAME: Final = "agent.name"
OI_OUTPUT_MESSAGE_CONTENT: Final = "llm.output_messages.0.message.content"

# --- OpenLLMetry (Traceloop) ----------------------------------------------------------------
TL_SPAN_KIND: Final = "traceloop.span.kind"
TL_ENTITY_NAME: Final = "traceloop.entity.name"
TL_ENTITY_INPUT: Final = "traceloop.entity.input"
TL_ENTITY_OUTPUT: Final = "traceloop.entity.output"
TL_REQUEST_TYPE: Final = "llm.request.type"
