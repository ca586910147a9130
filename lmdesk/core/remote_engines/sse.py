"""Server-sent events as an OpenAI stream sends them: ``data: {json}`` lines, ``data: [DONE]``.

A line that is not SSE, or data that is not a JSON object, is the server speaking
something else: `BadServerReply` at once, not a hang or a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from .errors import BadServerReply

DONE = "[DONE]"
MAX_LINE = 1 << 20
"""A longer line is not a token's event."""


def events(lines: Iterable[str], *, server_name: str) -> Iterator[dict[str, Any]]:
    """Each ``data:`` line's JSON object, until ``[DONE]`` (or the end of the lines).

    Comments (``: ping``), ``event:``, ``id:`` and ``retry:`` fields and blank lines are
    skipped; an ``error`` object in the stream (llama-server, vLLM) is raised as
    `BadServerReply` with its message."""
    for raw in lines:
        line = raw.rstrip("\r\n")
        if len(line) > MAX_LINE:
            raise BadServerReply(f"{server_name} sent a stream line of {len(line):,} characters.")
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field in ("event", "id", "retry"):
            continue
        if field != "data":
            raise BadServerReply(
                f"{server_name} did not stream like an OpenAI-compatible server "
                f"(it sent {_shown(line)})."
            )
        if value.strip() == DONE:
            return
        try:
            data = json.loads(value)
        except ValueError:
            raise BadServerReply(
                f"{server_name} streamed something that is not JSON ({_shown(value)})."
            ) from None
        if not isinstance(data, dict):
            raise BadServerReply(f"{server_name} streamed {_shown(value)}, not a JSON object.")
        error = data.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else error
            raise BadServerReply(f"{server_name} stopped with an error: {message}")
        yield data


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return repr(text[:60] + ("…" if len(text) > 60 else ""))
