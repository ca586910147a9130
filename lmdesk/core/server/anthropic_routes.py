"""Anthropic's Messages API: POST /v1/messages, plain and streamed (message_start,
content_block_start/delta/stop, message_delta, message_stop), with tool_use blocks."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ..engine.templates import Message
from .chat_run import ChatPlan, ChatRun, Outcome, note_usage
from .errors import ApiError, anthropic_body
from .sampling_request import sampling_from
from .schemas import AnthropicMessage, AnthropicText, MessagesRequest
from .sse import SSE_HEADERS, named_event, server_state
from .tools import ToolSpec, call_schema, schema_grammar, tools_prompt

router = APIRouter()


def _blocks_text(content: str | list[AnthropicText]) -> str:
    return content if isinstance(content, str) else "".join(b.text for b in content)


def anthropic_messages(messages: list[AnthropicMessage], system: str) -> list[Message]:
    out: list[Message] = [{"role": "system", "content": system}] if system else []
    for m in messages:
        if isinstance(m.content, str):
            out.append({"role": m.role, "content": m.content})
            continue
        parts: list[str] = []
        for block in m.content:
            if block.type == "text":
                parts.append(block.text)
            elif block.type == "tool_use":
                parts.append(json.dumps({"name": block.name, "arguments": block.input}))
            else:
                parts.append(f"Tool result: {_blocks_text(block.content)}")
        out.append({"role": m.role, "content": "\n".join(parts)})
    return out


def messages_plan(body: MessagesRequest, base: Any) -> ChatPlan:
    tools = [ToolSpec(t.name, t.description, t.input_schema) for t in body.tools or []]
    choice = body.tool_choice
    forced = choice is not None and choice.type in ("any", "tool")
    if choice is not None and choice.type == "none":
        tools = []
    if choice is not None and choice.type == "tool":
        tools = [t for t in tools if t.name == choice.name]
        if not tools:
            raise ApiError(400, f"tool_choice names {choice.name!r}, which is not in tools")
    grammar = None
    if forced and tools:
        try:
            grammar = schema_grammar(call_schema(tools))
        except ValueError as exc:
            raise ApiError(400, str(exc), param="tools") from exc
    system = _blocks_text(body.system) if body.system is not None else ""
    if tools:
        system = "\n\n".join(s for s in (system, tools_prompt(tools, forced=forced)) if s)
    sampling = sampling_from(
        base,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        stop=body.stop_sequences,
        max_tokens=body.max_tokens,
        grammar=grammar,
    )
    return ChatPlan(anthropic_messages(body.messages, system), sampling, tools)


def _stop_reason(outcome: Outcome, stops: list[str] | None) -> tuple[str, str | None]:
    if outcome.tool_call is not None:
        return "tool_use", None
    if outcome.stats.stop_reason == "stop_string":
        matched = next((s for s in stops or [] if s), None)
        return "stop_sequence", matched
    if outcome.finish == "length":
        return "max_tokens", None
    return "end_turn", None


def _tool_block(outcome: Outcome) -> dict[str, Any] | None:
    call = outcome.tool_call
    if call is None:
        return None
    return {
        "type": "tool_use",
        "id": f"toolu_{uuid.uuid4().hex[:24]}",
        "name": call.name,
        "input": call.arguments,
    }


@router.post("/v1/messages", response_model=None)
async def messages(body: MessagesRequest, request: Request) -> Any:
    state = server_state(request)
    plan = messages_plan(body, state.sampling)
    run = await ChatRun.start(state, request, body.model, plan)
    message_id = f"msg_{uuid.uuid4().hex[:24]}"
    if body.stream:
        return StreamingResponse(
            _stream(run, request, message_id, body.stop_sequences),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    outcome = await run.finish(request)
    note_usage(request, run)
    content: list[dict[str, Any]] = []
    if outcome.reasoning:
        content.append({"type": "thinking", "thinking": outcome.reasoning, "signature": ""})
    if outcome.content:
        content.append({"type": "text", "text": outcome.content})
    tool = _tool_block(outcome)
    if tool:
        content.append(tool)
    reason, sequence = _stop_reason(outcome, body.stop_sequences)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": outcome.model_id,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": {
            "input_tokens": outcome.prompt_tokens,
            "output_tokens": outcome.completion_tokens,
        },
    }


async def _stream(
    run: ChatRun, request: Request, message_id: str, stops: list[str] | None
) -> AsyncIterator[bytes]:
    yield named_event(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": run.model_id,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            },
        },
    )
    index = -1
    open_kind: str | None = None
    try:
        async for kind, text in run.deltas():
            block = "thinking" if kind == "reasoning" else "text"
            if open_kind != block:
                if open_kind is not None:
                    yield named_event(
                        "content_block_stop", {"type": "content_block_stop", "index": index}
                    )
                index += 1
                open_kind = block
                start: dict[str, Any] = (
                    {"type": "thinking", "thinking": "", "signature": ""}
                    if block == "thinking"
                    else {"type": "text", "text": ""}
                )
                yield named_event(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": start},
                )
            delta = (
                {"type": "thinking_delta", "thinking": text}
                if block == "thinking"
                else {"type": "text_delta", "text": text}
            )
            yield named_event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
    except ApiError as error:
        yield named_event("error", anthropic_body(error))
        return
    if open_kind is not None:
        yield named_event("content_block_stop", {"type": "content_block_stop", "index": index})
    outcome = run.outcome
    assert outcome is not None
    note_usage(request, run)
    tool = _tool_block(outcome)
    if tool is not None:
        index += 1
        yield named_event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {**tool, "input": {}}},
        )
        yield named_event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": json.dumps(tool["input"])},
            },
        )
        yield named_event("content_block_stop", {"type": "content_block_stop", "index": index})
    reason, sequence = _stop_reason(outcome, stops)
    yield named_event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": {
                "input_tokens": outcome.prompt_tokens,
                "output_tokens": outcome.completion_tokens,
            },
        },
    )
    yield named_event("message_stop", {"type": "message_stop"})
