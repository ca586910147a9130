"""The ASGI app: the three APIs' routes behind the guard (key, body limit, log), CORS only
when origins are listed, and every error in its API's own JSON shape."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from . import anthropic_routes, openai_chat, openai_completions, openai_models, responses_routes
from .errors import ApiError, body_for
from .guard import Guard
from .state import ServerState

_log = logging.getLogger(__name__)


def _error_response(request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse(
        body_for(request.url.path, error), status_code=error.status, headers=error.headers
    )


def _field(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def create_app(state: ServerState) -> ASGIApp:
    app = FastAPI(title="lmdesk", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.lmdesk = state
    for module in (
        openai_models,
        openai_chat,
        openai_completions,
        anthropic_routes,
        responses_routes,
    ):
        app.include_router(module.router)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
        field = _field(tuple(first.get("loc", ())))
        if first.get("type") == "json_invalid":
            error = ApiError(400, f"The body is not valid JSON: {first.get('msg')}.")
        else:
            error = ApiError(422, f"{field}: {first.get('msg')}", param=field)
        return _error_response(request, error)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error_response(request, ApiError(exc.status_code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unexpected error serving %s", request.url.path)
        return _error_response(request, ApiError(500, f"The server failed: {exc}"))

    guarded = Guard(app, state)
    if state.config.cors_origins:
        return CORSMiddleware(
            guarded,
            allow_origins=list(state.config.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
        )
    return guarded
