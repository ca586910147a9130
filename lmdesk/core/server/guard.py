"""The ASGI layer in front of every endpoint: the API key, the body limit, the request log.

One pure ASGI middleware (no buffering of responses, so streams stay streams):
- a request whose body passes ``max_body_bytes`` gets 413 before any handler runs;
- with a key set, ``Authorization: Bearer <key>`` or ``x-api-key: <key>`` must match it,
  compared in constant time (`hmac.compare_digest`), else 401;
- every request is logged with its method, path, model, status, tokens and time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, body_for
from .state import RequestRecord, ServerState

DRAIN_FACTOR = 4


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def key_matches(scope: Scope, key: str) -> bool:
    """Whether the request carries ``key`` (Bearer or x-api-key), compared in constant time."""
    given = [_header(scope, b"x-api-key")]
    auth = _header(scope, b"authorization")
    if auth is not None and auth[:7].lower() == "bearer ":
        given.append(auth[7:].strip())
    # Digests first: equal lengths, so not even the key's length leaks through timing.
    expected = hashlib.sha256(key.encode()).digest()
    return any(
        g is not None and hmac.compare_digest(hashlib.sha256(g.encode()).digest(), expected)
        for g in given
    )


async def send_error(scope: Scope, send: Send, error: ApiError) -> None:
    body = json.dumps(body_for(scope["path"], error)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]
        recorded = [False]

        def record() -> None:
            if not recorded[0]:
                recorded[0] = True
                self._record(scope, status[0] or 500, started)

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            if message["type"] == "http.response.body" and not message.get("more_body"):
                record()  # before the client can see the end
            await send(message)

        try:
            await self._guarded(scope, receive, logged_send)
        finally:
            record()  # a stream the client left, a failure

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.state.config
        if scope["method"] == "OPTIONS":  # CORS preflight, answered outside
            await self.app(scope, receive, send)
            return
        if config.api_key and not key_matches(scope, config.api_key):
            await send_error(
                scope,
                send,
                ApiError(
                    401,
                    "Invalid or missing API key: send it as 'Authorization: Bearer <key>' "
                    "or 'x-api-key: <key>'.",
                    code="invalid_api_key",
                ),
            )
            return
        limit = config.max_body_bytes
        length = _header(scope, b"content-length")
        too_large = length is not None and length.isdigit() and int(length) > limit
        body = bytearray()
        seen = 0
        more = scope["method"] in ("POST", "PUT", "PATCH")
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            more = message.get("more_body", False)
            if not too_large:
                body += chunk
                too_large = len(body) > limit
            if too_large:
                body.clear()
                # Read (and drop) a moderate excess so the client can read the 413 rather
                # than a broken pipe; past that, answer and let the connection close.
                if seen > DRAIN_FACTOR * limit:
                    break
        if too_large:
            await send_error(scope, send, _too_large(limit))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _record(self, scope: Scope, status: int, started: float) -> None:
        state: dict[str, Any] = scope.get("state") or {}
        self.state.record(
            RequestRecord(
                method=scope["method"],
                path=scope["path"],
                status=status,
                model=state.get("model"),
                prompt_tokens=state.get("prompt_tokens"),
                completion_tokens=state.get("completion_tokens"),
                seconds=time.perf_counter() - started,
                queue_wait_s=state.get("queue_wait_s"),
                text=state.get("text") if self.state.config.log_message_text else None,
            )
        )


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"The request body is larger than the server's limit of {limit // 1024:,} KiB.",
        code="request_too_large",
    )
