"""Server-sent events as the SDKs read them, and the request's shared server state."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .state import ServerState

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DONE = b"data: [DONE]\n\n"


def sse(data: Any) -> bytes:
    """One ``data:`` event (OpenAI's chat and completion streams)."""
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def named_event(name: str, data: dict[str, Any]) -> bytes:
    """One ``event:`` + ``data:`` event (Anthropic's and the Responses API's streams)."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.lmdesk
    return state
