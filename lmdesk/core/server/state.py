"""What every request handler shares: the model pool, the configuration, the request log."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine import EngineError, SamplingSettings
from ..serving import ModelScheduler
from ..serving.pool import ModelPool
from .config import ServerConfig
from .errors import from_engine

_log = logging.getLogger("lmdesk.server.requests")

LOG_SIZE = 500


@dataclass(frozen=True)
class RequestRecord:
    """One line of the request log: never the messages' text unless the user asked."""

    method: str
    path: str
    status: int
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float
    queue_wait_s: float | None = None
    """How long the request waited for its model's queue."""
    text: str | None = None


@dataclass
class ServerState:
    pool: ModelPool
    config: ServerConfig
    sampling: SamplingSettings = field(default_factory=lambda: SamplingSettings(max_tokens=None))
    """The base every request's sampling is laid over (the app's defaults for new chats)."""
    log: deque[RequestRecord] = field(default_factory=lambda: deque(maxlen=LOG_SIZE))
    on_request: Callable[[RequestRecord], None] | None = None
    """Told of each finished request (the app's live log), on the server's thread."""

    async def acquire(self, name: str | None, ttl: int | None) -> tuple[str, ModelScheduler]:
        """The model a request names, JIT-loaded when the settings allow it."""
        ttl_s = float(ttl) if ttl is not None else None
        found = self.pool.acquire_loaded(name, ttl_s=ttl_s)
        if found is not None:  # the usual case: no thread hop, no library scan
            return found
        try:
            return await asyncio.to_thread(
                self.pool.acquire,
                name,
                jit=self.config.jit_loading,
                ttl_s=ttl_s,
            )
        except EngineError as exc:
            raise from_engine(exc) from exc

    def record(self, record: RequestRecord) -> None:
        self.log.append(record)
        _log.info(
            "%s %s %s model=%s tokens=%s/%s %.3fs",
            record.method,
            record.path,
            record.status,
            record.model,
            record.prompt_tokens,
            record.completion_tokens,
            record.seconds,
        )
        if self.on_request is not None:
            self.on_request(record)


def now() -> float:
    return time.perf_counter()
