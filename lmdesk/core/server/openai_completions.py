"""OpenAI's /v1/completions: a prompt continued, plain or streamed."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from .chat_run import ChatPlan, ChatRun, note_usage
from .errors import ApiError, openai_body
from .openai_chat import usage
from .sampling_request import openai_sampling
from .schemas import CompletionRequest
from .sse import DONE, SSE_HEADERS, server_state, sse

router = APIRouter()


# --- /v1/completions -------------------------------------------------------------------


@router.post("/v1/completions", response_model=None)
async def completions(body: CompletionRequest, request: Request) -> Any:
    state = server_state(request)
    if isinstance(body.prompt, list):
        if len(body.prompt) != 1:
            raise ApiError(400, "give one prompt per request", param="prompt")
        prompt = body.prompt[0]
    else:
        prompt = body.prompt
    sampling = openai_sampling(  # 16 tokens: OpenAI's default for this endpoint
        state.sampling, body, max_tokens=body.max_tokens or 16
    )
    run = await ChatRun.start(
        state, request, body.model, ChatPlan(sampling=sampling, prompt=prompt), ttl=body.ttl
    )
    reply_id = f"cmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    head = prompt if body.echo else ""

    def body_of(text: str, finish: str | None) -> dict[str, Any]:
        return {
            "id": reply_id,
            "object": "text_completion",
            "created": created,
            "model": run.model_id,
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
        }

    if not body.stream:
        outcome = await run.finish(request)
        note_usage(request, run)
        return {**body_of(head + outcome.content, outcome.finish), "usage": usage(outcome)}

    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    async def stream() -> AsyncIterator[bytes]:
        if head:
            yield sse(body_of(head, None))
        try:
            async for _kind, text in run.deltas():
                yield sse(body_of(text, None))
        except ApiError as error:
            yield sse(openai_body(error))
            yield DONE
            return
        outcome = run.outcome
        assert outcome is not None
        note_usage(request, run)
        yield sse(body_of("", outcome.finish))
        if include_usage:
            yield sse({**body_of("", None), "choices": [], "usage": usage(outcome)})
        yield DONE

    return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)
