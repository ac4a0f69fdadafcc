"""A scripted model provider on 127.0.0.1: the real OpenAI and Anthropic clients talk to
it over HTTP, so nothing of theirs is mocked.

Each POST gets the next scripted reply: a JSON body, a list of server-sent events, or an
HTTP error. Request bodies are kept for the test to inspect. Builders below make the
bodies each API returns.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Sse(list):
    """A reply sent as server-sent events: ``(event name or None, data)`` pairs."""


class HttpError:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body


class ScriptedServer:
    """``with ScriptedServer() as server: server.script(reply, ...)``; ``server.url``."""

    def __init__(self) -> None:
        self.replies: deque[Any] = deque()
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # else every request waits ~40 ms for an ACK
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # the name http.server calls
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                outer.requests.append(json.loads(body or b"{}"))
                outer.paths.append(self.path)
                self._send(*outer.next_reply())

            def _send(self, status: int, content_type: str, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    def script(self, *replies: Any) -> None:
        self.replies.extend(replies)

    def next_reply(self) -> tuple[int, str, bytes]:
        """``(status, content type, body)`` of the next scripted reply."""
        reply = self.replies.popleft() if self.replies else HttpError(
            500, {"error": {"message": "no scripted reply left"}})
        if isinstance(reply, HttpError):
            return reply.status, "application/json", json.dumps(reply.body).encode()
        if isinstance(reply, Sse):
            chunks = []
            for event, data in reply:
                head = f"event: {event}\n" if event else ""
                text = data if isinstance(data, str) else json.dumps(data)
                chunks.append(f"{head}data: {text}\n\n")
            return 200, "text/event-stream", "".join(chunks).encode()
        return 200, "application/json", json.dumps(reply).encode()

    def http_client(self) -> Any:
        """An ``httpx2.Client`` that answers in-process from the same script, without a
        socket: for the instruction-count benchmark, where a server thread's polling
        would count too."""
        import httpx2

        def answer(request: Any) -> Any:
            self.requests.append(json.loads(request.content or b"{}"))
            self.paths.append(request.url.path)
            status, content_type, body = self.next_reply()
            return httpx2.Response(status, headers={"content-type": content_type},
                                   content=body)

        return httpx2.Client(transport=httpx2.MockTransport(answer))

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- OpenAI Chat Completions ------------------------------------------------------------------

def chat_completion(text: str | None = "done", tool_calls: Iterable[tuple[str, str, str]] = (),
                    model: str = "gpt-4o-2024-08-06", prompt_tokens: int = 12,
                    completion_tokens: int = 5, reasoning_tokens: int = 0,
                    id_: str = "chatcmpl-1") -> dict[str, Any]:
    calls = [{"id": call_id, "type": "function",
              "function": {"name": name, "arguments": arguments}}
             for call_id, name, arguments in tool_calls]
    return {
        "id": id_, "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "finish_reason": "tool_calls" if calls else "stop",
                     "message": {"role": "assistant", "content": text,
                                 **({"tool_calls": calls} if calls else {})}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens,
                  "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}},
    }


def chat_chunks(text: str = "", tool_calls: Iterable[tuple[str, str, str]] = (),
                model: str = "gpt-4o-2024-08-06", usage: tuple[int, int] | None = None) -> Sse:
    base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": model}
    events: Sse = Sse()
    events.append((None, {**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
    for piece in (text[i:i + 4] for i in range(0, len(text), 4)):
        events.append((None, {**base, "choices": [{"index": 0, "delta": {"content": piece}}]}))
    calls = list(tool_calls)
    for index, (call_id, name, arguments) in enumerate(calls):
        half = len(arguments) // 2
        events.append((None, {**base, "choices": [{"index": 0, "delta": {"tool_calls": [{
            "index": index, "id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments[:half]}}]}}]}))
        events.append((None, {**base, "choices": [{"index": 0, "delta": {"tool_calls": [{
            "index": index, "function": {"arguments": arguments[half:]}}]}}]}))
    events.append((None, {**base, "choices": [{
        "index": 0, "delta": {}, "finish_reason": "tool_calls" if calls else "stop"}]}))
    if usage is not None:
        events.append((None, {**base, "choices": [], "usage": {
            "prompt_tokens": usage[0], "completion_tokens": usage[1],
            "total_tokens": sum(usage)}}))
    events.append((None, "[DONE]"))
    return events


# --- OpenAI Responses ---------------------------------------------------------------------------

def response(text: str | None = "done", calls: Iterable[tuple[str, str, str]] = (),
             id_: str = "resp_1", model: str = "gpt-5-2025-08-07",
             usage: tuple[int, int, int] = (20, 8, 3)) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if text:
        output.append({"type": "message", "id": "msg_1", "role": "assistant",
                       "status": "completed",
                       "content": [{"type": "output_text", "text": text, "annotations": []}]})
    for call_id, name, arguments in calls:
        output.append({"type": "function_call", "id": f"fc_{call_id}", "call_id": call_id,
                       "name": name, "arguments": arguments, "status": "completed"})
    return {
        "id": id_, "object": "response", "created_at": 1, "model": model,
        "status": "completed", "output": output, "parallel_tool_calls": True,
        "tool_choice": "auto", "tools": [],
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1],
                  "total_tokens": usage[0] + usage[1],
                  "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": usage[2]}},
    }


def response_events(body: dict[str, Any]) -> Sse:
    created = {**body, "status": "in_progress", "output": [], "usage": None}
    return Sse([
        ("response.created", {"type": "response.created", "sequence_number": 0,
                              "response": created}),
        ("response.completed", {"type": "response.completed", "sequence_number": 1,
                                "response": body}),
    ])


# --- Anthropic Messages ------------------------------------------------------------------------

def message(text: str | None = "done", tool_uses: Iterable[tuple[str, str, dict[str, Any]]] = (),
            thinking: str | None = None, model: str = "claude-sonnet-4-5-20250929",
            usage: tuple[int, int] = (30, 9), id_: str = "msg_1") -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if thinking:
        content.append({"type": "thinking", "thinking": thinking, "signature": "sig"})
    if text:
        content.append({"type": "text", "text": text})
    uses = list(tool_uses)
    for call_id, name, arguments in uses:
        content.append({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
    return {"id": id_, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": "tool_use" if uses else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}


def message_events(body: dict[str, Any]) -> Sse:
    start = {**body, "content": [], "stop_reason": None,
             "usage": {"input_tokens": body["usage"]["input_tokens"], "output_tokens": 1}}
    events = Sse([("message_start", {"type": "message_start", "message": start})])
    for index, block in enumerate(body["content"]):
        if block["type"] == "text":
            opening, delta = {"type": "text", "text": ""}, {"type": "text_delta",
                                                            "text": block["text"]}
        elif block["type"] == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            delta = {"type": "thinking_delta", "thinking": block["thinking"]}
        else:
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"],
                       "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                               "content_block": opening}))
        events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                               "delta": delta}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": body["stop_reason"],
                                               "stop_sequence": None},
                                     "usage": {"output_tokens": body["usage"]["output_tokens"]}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events
