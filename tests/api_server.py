"""A live lmdesk API server on 127.0.0.1 for the SDK tests: the real SmolLM2, a real pool."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lmdesk.core.engine import LoadSettings
from lmdesk.core.server import ApiServer, ServerConfig, ServerState
from lmdesk.core.serving.pool import ModelPool

MODEL = "smollm2"
SETTINGS = LoadSettings(n_ctx=1024, n_batch=256, n_ubatch=256, n_threads=1)


@contextmanager
def live_server(models: dict[str, Path], config: ServerConfig | None = None) -> Iterator[ApiServer]:
    """A started server on a free port over a pool of ``models`` (id -> file)."""
    pool = ModelPool(catalog=lambda: dict(models), settings_for=lambda _p: SETTINGS)
    pool.start_reaper(interval_s=0.1)
    server = ApiServer(ServerState(pool, config or ServerConfig(port=0)))
    server.start()
    try:
        yield server
    finally:
        server.stop()
        pool.close()


def post_raw(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """POST raw bytes (what an SDK would never send); the status and the JSON answer."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())
