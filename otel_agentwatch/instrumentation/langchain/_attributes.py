"""What the LangChain callbacks carry, read into GenAI semantic-convention values.

Pure functions over LangChain's objects (serialized dicts, metadata, ``LLMResult``,
messages); duck-typed, so they never import LangChain themselves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ... import semconv

__all__ = [
    "chat_attributes",
    "finish_reasons",
    "first_user_text",
    "langgraph_attributes",
    "output_messages",
    "output_text",
    "tool_result_text",
    "usage",
]

# LangChain's ls_provider values that differ from the GenAI provider names.
_PROVIDERS = {"azure": "azure.ai.openai", "google_genai": "gcp.gen_ai",
              "google_vertexai": "gcp.vertex_ai", "bedrock": "aws.bedrock",
              "amazon_bedrock": "aws.bedrock", "mistralai": "mistral_ai"}


def chat_attributes(serialized: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None,
                    invocation_params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """``(model name, request attributes)`` for a chat model call."""
    metadata = metadata or {}
    params = invocation_params or {}
    model = (metadata.get("ls_model_name") or params.get("model") or params.get("model_name")
             or params.get("model_id") or _class_name(serialized) or "unknown")
    provider = metadata.get("ls_provider") or params.get("_type") or "langchain"
    attributes: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: semconv.OP_CHAT,
        semconv.GEN_AI_PROVIDER_NAME: _PROVIDERS.get(str(provider), str(provider)),
        semconv.GEN_AI_REQUEST_MODEL: str(model),
    }
    for key, attribute in (("temperature", "gen_ai.request.temperature"),
                           ("max_tokens", "gen_ai.request.max_tokens"),
                           ("top_p", "gen_ai.request.top_p")):
        value = params.get(key, metadata.get(f"ls_{key}"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attributes[attribute] = value
    return str(model), attributes


def langgraph_attributes(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """LangGraph's step and node, and the thread id as the conversation id."""
    metadata = metadata or {}
    attributes: dict[str, Any] = {}
    if isinstance(metadata.get("langgraph_step"), int):
        attributes["langgraph.step"] = metadata["langgraph_step"]
    if isinstance(metadata.get("langgraph_node"), str):
        attributes["langgraph.node"] = metadata["langgraph_node"]
    thread = metadata.get("thread_id")
    if isinstance(thread, (str, int)) and not isinstance(thread, bool):
        attributes[semconv.GEN_AI_CONVERSATION_ID] = str(thread)
    return attributes


def _message(result: Any) -> Any:
    generations = getattr(result, "generations", None) or [[]]
    first = generations[0][0] if generations and generations[0] else None
    return getattr(first, "message", None), first


def usage(result: Any) -> dict[str, int]:
    """Token counts from the message's usage metadata, or the provider's llm_output."""
    message, _ = _message(result)
    counts: dict[str, int] = {}
    metadata = getattr(message, "usage_metadata", None)
    if isinstance(metadata, Mapping):
        if isinstance(metadata.get("input_tokens"), int):
            counts[semconv.GEN_AI_USAGE_INPUT_TOKENS] = metadata["input_tokens"]
        if isinstance(metadata.get("output_tokens"), int):
            counts[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = metadata["output_tokens"]
        details = metadata.get("output_token_details")
        if isinstance(details, Mapping) and isinstance(details.get("reasoning"), int):
            counts[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = details["reasoning"]
        if counts:
            return counts
    output = getattr(result, "llm_output", None)
    token_usage = output.get("token_usage") or output.get("usage") if isinstance(
        output, Mapping) else None
    if isinstance(token_usage, Mapping):
        for keys, attribute in ((("prompt_tokens", "input_tokens"),
                                 semconv.GEN_AI_USAGE_INPUT_TOKENS),
                                (("completion_tokens", "output_tokens"),
                                 semconv.GEN_AI_USAGE_OUTPUT_TOKENS)):
            value = next((token_usage[k] for k in keys if isinstance(token_usage.get(k), int)),
                         None)
            if value is not None:
                counts[attribute] = value
    return counts


def response_model(result: Any) -> str | None:
    message, _ = _message(result)
    metadata = getattr(message, "response_metadata", None)
    if isinstance(metadata, Mapping):
        name = metadata.get("model_name") or metadata.get("model")
        if isinstance(name, str):
            return name
    output = getattr(result, "llm_output", None)
    name = output.get("model_name") if isinstance(output, Mapping) else None
    return name if isinstance(name, str) else None


def finish_reasons(result: Any) -> list[str]:
    message, generation = _message(result)
    info = getattr(generation, "generation_info", None) or {}
    metadata = getattr(message, "response_metadata", None) or {}
    reason = info.get("finish_reason") or metadata.get("finish_reason") or metadata.get(
        "stop_reason")
    if isinstance(reason, str):
        return [reason]
    return ["tool_calls"] if getattr(message, "tool_calls", None) else []


def output_text(result: Any) -> str | None:
    """The model's text output (content parts joined), for the text detectors."""
    message, generation = _message(result)
    content = getattr(message, "content", None)
    if content is None:
        content = getattr(generation, "text", None)
    return _text(content) or None


def output_messages(result: Any) -> str:
    """``gen_ai.output.messages``: the response with its text and the tool calls requested."""
    message, _ = _message(result)
    parts: list[dict[str, Any]] = []
    text = output_text(result)
    if text:
        parts.append({"type": "text", "content": text})
    for call in getattr(message, "tool_calls", None) or ():
        if isinstance(call, Mapping):
            parts.append({"type": "tool_call", "id": call.get("id"), "name": call.get("name"),
                          "arguments": call.get("args")})
    return json.dumps([{"role": "assistant", "parts": parts,
                        "finish_reason": next(iter(finish_reasons(result)), None)}],
                      default=str, ensure_ascii=False)


def tool_result_text(output: Any) -> tuple[Any, str | None]:
    """``(result, status)`` of a tool's output: a ``ToolMessage``'s content, or the value."""
    content = getattr(output, "content", output)
    status = getattr(output, "status", None)
    return content, status if isinstance(status, str) else None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "\n".join(part.get("text", "") if isinstance(part, Mapping) else str(part)
                         for part in content if not isinstance(part, Mapping)
                         or part.get("type") in (None, "text"))
    return ""


def _class_name(serialized: Mapping[str, Any] | None) -> str | None:
    ids = (serialized or {}).get("id")
    if isinstance(ids, list) and ids:
        return str(ids[-1])
    return None


def first_user_text(inputs: Any) -> str | None:
    """The first human message of an agent's input (``{"messages": [...]}``, a message
    list, or a plain string), as text."""
    if isinstance(inputs, str):
        return inputs or None
    messages = inputs.get("messages") if isinstance(inputs, Mapping) else inputs
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        return None
    for message in messages:
        if isinstance(message, (tuple, list)) and len(message) == 2:
            role, text = message
        elif isinstance(message, Mapping):
            role, text = message.get("role") or message.get("type"), message.get("content")
        else:
            role, text = getattr(message, "type", None), getattr(message, "content", None)
        if role in ("user", "human"):
            return _text(text) or None
    return None
