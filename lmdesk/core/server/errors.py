"""Errors as each API shapes them: OpenAI's ``{"error": {...}}``, Anthropic's
``{"type": "error", "error": {...}}``. Never a traceback."""

from __future__ import annotations

from typing import Any

from ..engine import ContextOverflow, EngineError, LoadCancelled, TemplateError
from ..serving import CannotEmbed, InvalidJob, JobCancelled, ModelsBusy, QueueFull, UnknownModel

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
}
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
    503: "server_busy",
}


class ApiError(Exception):
    """A refusal with its HTTP status, a sentence, and the field at fault if there is one."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}


def from_engine(error: EngineError) -> ApiError:
    """The HTTP answer to an engine or scheduler failure."""
    if isinstance(error, QueueFull):
        seconds = str(error.retry_after_s)
        return ApiError(429, str(error), code="queue_full", headers={"Retry-After": seconds})
    if isinstance(error, UnknownModel):
        listed = ", ".join(error.available) or "none"
        return ApiError(
            404, f"{error} Available models: {listed}.", param="model", code="model_not_found"
        )
    if isinstance(error, ContextOverflow | InvalidJob | TemplateError | CannotEmbed):
        return ApiError(400, str(error))
    if isinstance(error, ModelsBusy | JobCancelled | LoadCancelled):
        return ApiError(503, str(error), headers={"Retry-After": "1"})
    return ApiError(500, str(error))


def openai_body(error: ApiError) -> dict[str, Any]:
    kind = _OPENAI_TYPES.get(error.status, "server_error")
    return {
        "error": {"message": error.message, "type": kind, "param": error.param, "code": error.code}
    }


def anthropic_body(error: ApiError) -> dict[str, Any]:
    kind = _ANTHROPIC_TYPES.get(error.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": error.message}}


def body_for(path: str, error: ApiError) -> dict[str, Any]:
    """The shape the client of ``path`` expects (Anthropic's for /v1/messages)."""
    return anthropic_body(error) if path.startswith("/v1/messages") else openai_body(error)
