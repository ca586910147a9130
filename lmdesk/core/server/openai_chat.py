"""OpenAI's /v1/chat/completions: messages in; the reply plain or streamed as server-sent
events ending in ``data: [DONE]``; JSON output and forced tool calls through a grammar."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ..engine.templates import Message
from .chat_run import ChatPlan, ChatRun, Outcome, note_usage
from .errors import ApiError, openai_body
from .sampling_request import openai_sampling
from .schemas import ChatMessage, ChatRequest
from .sse import DONE, SSE_HEADERS, server_state, sse
from .state import ServerState
from .tools import JSON_OBJECT_GRAMMAR, ToolSpec, call_schema, schema_grammar, tools_prompt

router = APIRouter()


# --- /v1/chat/completions --------------------------------------------------------------


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content)


def chat_messages(messages: list[ChatMessage], extra_system: str = "") -> list[Message]:
    """OpenAI messages as the engine's: system and developer text first, in one message;
    tool calls and results as text a template without tool support can lay out."""
    system = [_text(m.content) for m in messages if m.role in ("system", "developer")]
    if extra_system:
        system.append(extra_system)
    out: list[Message] = []
    if system:
        out.append({"role": "system", "content": "\n\n".join(s for s in system if s)})
    for m in messages:
        if m.role in ("system", "developer"):
            continue
        if m.role == "tool":
            out.append({"role": "user", "content": f"Tool result: {_text(m.content)}"})
        elif m.role == "assistant" and m.tool_calls:
            call = m.tool_calls[0].function
            try:
                arguments = json.loads(call.arguments)
            except ValueError:
                arguments = call.arguments
            out.append(
                {
                    "role": "assistant",
                    "content": json.dumps({"name": call.name, "arguments": arguments}),
                }
            )
        else:
            out.append({"role": m.role, "content": _text(m.content)})
    return out


def chat_plan(body: ChatRequest, state: ServerState) -> ChatPlan:
    grammar: str | None = None
    fmt = body.response_format
    if fmt is not None and fmt.type == "json_object":
        grammar = JSON_OBJECT_GRAMMAR
    elif fmt is not None and fmt.type == "json_schema":
        if fmt.json_schema is None or not fmt.json_schema.schema_:
            raise ApiError(
                400, "response_format json_schema needs a schema", param="response_format"
            )
        grammar = _grammar(fmt.json_schema.schema_, "response_format")
    tools = [
        ToolSpec(t.function.name, t.function.description, t.function.parameters)
        for t in body.tools or []
    ]
    choice = body.tool_choice
    if choice == "none":
        tools = []
    forced = choice == "required" or not isinstance(choice, str | type(None))
    if not isinstance(choice, str) and choice is not None:
        tools = [t for t in tools if t.name == choice.function.name]
        if not tools:
            raise ApiError(
                400,
                f"tool_choice names {choice.function.name!r}, which is not in tools",
                param="tool_choice",
            )
    if forced and tools:
        grammar = _grammar(call_schema(tools), "tools")
    sampling = openai_sampling(
        state.sampling,
        body,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        grammar=grammar,
    )
    extra = tools_prompt(tools, forced=forced) if tools else ""
    return ChatPlan(chat_messages(body.messages, extra), sampling, tools)


def _grammar(schema: dict[str, Any], param: str) -> str:
    try:
        return schema_grammar(schema)
    except ValueError as exc:
        raise ApiError(400, str(exc), param=param) from exc


def usage(outcome: Outcome) -> dict[str, Any]:
    return {
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "total_tokens": outcome.prompt_tokens + outcome.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": outcome.stats.cached_tokens},
    }


def _tool_calls(outcome: Outcome) -> list[dict[str, Any]] | None:
    call = outcome.tool_call
    if call is None:
        return None
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
        }
    ]


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: ChatRequest, request: Request) -> Any:
    state = server_state(request)
    plan = chat_plan(body, state)
    run = await ChatRun.start(state, request, body.model, plan, ttl=body.ttl)
    reply_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            _chat_stream(run, request, reply_id, created, include_usage),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    outcome = await run.finish(request)
    note_usage(request, run)
    message: dict[str, Any] = {"role": "assistant", "content": outcome.content or None}
    if outcome.tool_call is None:
        message["content"] = outcome.content
    if outcome.reasoning:
        message["reasoning_content"] = outcome.reasoning
    calls = _tool_calls(outcome)
    if calls:
        message["tool_calls"] = calls
    return {
        "id": reply_id,
        "object": "chat.completion",
        "created": created,
        "model": outcome.model_id,
        "choices": [
            {"index": 0, "message": message, "finish_reason": outcome.finish, "logprobs": None}
        ],
        "usage": usage(outcome),
    }


async def _chat_stream(
    run: ChatRun, request: Request, reply_id: str, created: int, include_usage: bool
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse(
            {
                "id": reply_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": run.model_id,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for kind, text in run.deltas():
            key = "reasoning_content" if kind == "reasoning" else "content"
            yield chunk({key: text})
    except ApiError as error:
        yield sse(openai_body(error))
        yield DONE
        return
    outcome = run.outcome
    assert outcome is not None
    note_usage(request, run)
    calls = _tool_calls(outcome)
    if calls:
        yield chunk({"tool_calls": [{"index": 0, **calls[0]}]})
    yield chunk({}, outcome.finish)
    if include_usage:
        yield sse(
            {
                "id": reply_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": run.model_id,
                "choices": [],
                "usage": usage(outcome),
            }
        )
    yield DONE
