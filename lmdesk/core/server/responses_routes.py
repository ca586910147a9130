"""OpenAI's Responses API, the stateless subset: POST /v1/responses with text or messages
in, one message out, plain or streamed as response.* events. Nothing is stored."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ..engine.templates import Message
from .chat_run import ChatPlan, ChatRun, Outcome, note_usage
from .errors import ApiError
from .sampling_request import sampling_from
from .schemas import ResponsesRequest, TextPart
from .sse import SSE_HEADERS, named_event, server_state

router = APIRouter()


def _text(content: str | list[TextPart]) -> str:
    return content if isinstance(content, str) else "".join(p.text for p in content)


def responses_messages(body: ResponsesRequest) -> list[Message]:
    system = [body.instructions] if body.instructions else []
    turns: list[Message] = []
    if isinstance(body.input, str):
        turns.append({"role": "user", "content": body.input})
    else:
        for m in body.input:
            if m.role in ("system", "developer"):
                system.append(_text(m.content))
            else:
                turns.append({"role": m.role, "content": _text(m.content)})
    head: list[Message] = [{"role": "system", "content": "\n\n".join(system)}] if system else []
    return [*head, *turns]


class _Shape:
    """The response object and its parts, as the SDK's types expect them."""

    def __init__(self, run: ChatRun, created: int) -> None:
        self.id = f"resp_{uuid.uuid4().hex}"
        self.item_id = f"msg_{uuid.uuid4().hex}"
        self.run = run
        self.created = created

    def part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": []}

    def item(self, text: str, status: str) -> dict[str, Any]:
        content = [self.part(text)] if status == "completed" else []
        return {
            "type": "message",
            "id": self.item_id,
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def response(self, status: str, outcome: Outcome | None) -> dict[str, Any]:
        output = [self.item(outcome.content, "completed")] if outcome else []
        usage = None
        if outcome is not None:
            usage = {
                "input_tokens": outcome.prompt_tokens,
                "input_tokens_details": {"cached_tokens": outcome.stats.cached_tokens},
                "output_tokens": outcome.completion_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": outcome.prompt_tokens + outcome.completion_tokens,
            }
        incomplete = outcome is not None and outcome.finish == "length"
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": "incomplete" if incomplete else status,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "model": self.run.model_id,
            "output": output,
            "parallel_tool_calls": False,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage,
            "error": None,
        }


@router.post("/v1/responses", response_model=None)
async def responses(body: ResponsesRequest, request: Request) -> Any:
    state = server_state(request)
    if body.previous_response_id:
        raise ApiError(
            400,
            "lmdesk serves the stateless subset of the Responses API: send the whole "
            "conversation as input instead of previous_response_id",
            param="previous_response_id",
        )
    sampling = sampling_from(
        state.sampling,
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_output_tokens,
    )
    plan = ChatPlan(responses_messages(body), sampling)
    run = await ChatRun.start(state, request, body.model, plan)
    shape = _Shape(run, int(time.time()))
    if not body.stream:
        outcome = await run.finish(request)
        note_usage(request, run)
        return shape.response("completed", outcome)
    return StreamingResponse(
        _stream(shape, request), media_type="text/event-stream", headers=SSE_HEADERS
    )


async def _stream(shape: _Shape, request: Request) -> AsyncIterator[bytes]:
    sequence = 0

    def event(name: str, **data: Any) -> bytes:
        nonlocal sequence
        payload = {"type": name, "sequence_number": sequence, **data}
        sequence += 1
        return named_event(name, payload)

    where = {"item_id": shape.item_id, "output_index": 0, "content_index": 0}
    yield event("response.created", response=shape.response("in_progress", None))
    yield event("response.in_progress", response=shape.response("in_progress", None))
    yield event("response.output_item.added", output_index=0, item=shape.item("", "in_progress"))
    yield event("response.content_part.added", part=shape.part(""), **where)
    try:
        async for kind, text in shape.run.deltas():
            if kind == "content":
                yield event("response.output_text.delta", delta=text, logprobs=[], **where)
    except ApiError as error:
        yield event("error", code=error.code, message=error.message, param=error.param)
        return
    outcome = shape.run.outcome
    assert outcome is not None
    note_usage(request, shape.run)
    yield event("response.output_text.done", text=outcome.content, logprobs=[], **where)
    yield event("response.content_part.done", part=shape.part(outcome.content), **where)
    yield event(
        "response.output_item.done", output_index=0, item=shape.item(outcome.content, "completed")
    )
    yield event("response.completed", response=shape.response("completed", outcome))
