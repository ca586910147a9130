"""A server's ``GET /v1/models``: the ids it serves (and their context length, if it says)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx2

from .errors import BadServerReply
from .http import Timeouts, make_client, opened
from .server import RemoteServer

MAX_LISTING = 4 << 20
"""Bytes of a model list read at most."""


@dataclass(frozen=True)
class ListedModel:
    model_id: str
    n_ctx: int | None = None
    """The context the server runs it with, when its listing says (llama-server's ``meta``)."""


def list_models(server: RemoteServer, timeouts: Timeouts | None = None) -> list[str]:
    """The ids of the models ``server`` lists, in its order (`EngineError`s on failure)."""
    return [m.model_id for m in listed_models(server, timeouts)]


def listed_models(
    server: RemoteServer,
    timeouts: Timeouts | None = None,
    *,
    client: httpx2.Client | None = None,
) -> list[ListedModel]:
    own = client is None
    http = make_client(server, timeouts or Timeouts(read_s=15.0)) if client is None else client
    try:
        with opened(http, server, "GET", "/models") as response:
            raw = b""
            for part in response.iter_bytes():
                raw += part
                if len(raw) > MAX_LISTING:
                    raise BadServerReply(f"{server.name}'s model list is larger than 4 MiB.")
    finally:
        if own:
            http.close()
    return parse_listing(raw, server.name)


def parse_listing(raw: bytes, server_name: str) -> list[ListedModel]:
    """OpenAI's ``{"object": "list", "data": [{"id": ...}, ...]}``; `BadServerReply` else."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadServerReply(
            f"{server_name} did not answer /v1/models with JSON: is this an OpenAI-compatible "
            "server?"
        ) from None
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise BadServerReply(f"{server_name}'s /v1/models has no list of models ('data').")
    out: list[ListedModel] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
            raise BadServerReply(f"{server_name}'s /v1/models lists a model without an id.")
        out.append(ListedModel(entry["id"], _context(entry)))
    return out


def _context(entry: dict[str, object]) -> int | None:
    for holder in (entry, entry.get("meta")):
        if isinstance(holder, dict):
            for key in ("n_ctx", "max_model_len", "context_length", "n_ctx_train"):
                value = holder.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
    return None
