"""OpenAI's /v1/models (My Models, with which are loaded) and /v1/embeddings."""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..engine import EngineError
from ..serving import EmbedJob
from .bridge import JobStream
from .errors import from_engine
from .schemas import EmbeddingRequest
from .sse import server_state

router = APIRouter()


# --- /v1/models ------------------------------------------------------------------------


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    state = server_state(request)
    catalog = await asyncio.to_thread(state.pool.catalog)
    loaded = state.pool.loaded()
    ids = [*catalog, *(m for m in loaded if m not in catalog)]
    return {
        "object": "list",
        "data": [
            {
                "id": model_id,
                "object": "model",
                "created": 0,
                "owned_by": "lmdesk",
                "loaded": model_id in loaded,
            }
            for model_id in ids
        ],
    }


# --- /v1/embeddings --------------------------------------------------------------------


@router.post("/v1/embeddings", response_model=None)
async def embeddings(body: EmbeddingRequest, request: Request) -> Any:
    state = server_state(request)
    model_id, scheduler = await state.acquire(body.model, None)
    request.state.model = model_id
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    try:
        stream = JobStream.start(scheduler, EmbedJob(texts))
        vectors, tokens = await stream.wait()
    except EngineError as exc:
        raise from_engine(exc) from exc
    return JSONResponse(
        {
            "object": "list",
            "model": model_id,
            "data": [
                {"object": "embedding", "index": i, "embedding": _encoded(v, body.encoding_format)}
                for i, v in enumerate(vectors)
            ],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    """As asked: a list of floats, or base64 of little-endian float32 (the SDK's default)."""
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector
