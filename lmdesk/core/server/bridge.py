"""A scheduler job seen from asyncio: streamed text as an async iterator, cancel on exit.

The scheduler calls the sink on its own thread; every call is handed to the event loop
with ``loop.call_soon_threadsafe``. Leaving the iteration early (the client went away,
the handler raised) sets the job's cancel event, so the model is free within one token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ..engine import EngineError
from ..serving import Job, JobHandle, ModelScheduler, Sink

_DONE = object()


class JobStream:
    """Submit with `start`; iterate for text; then `result` holds the job's result."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.handle: JobHandle | None = None
        self.result: Any = None
        self.tokens = 0
        """Generated tokens streamed so far."""

    @classmethod
    def start(cls, scheduler: ModelScheduler, job: Job, *, client: str = "api") -> JobStream:
        """Queue ``job`` (raises `QueueFull` at once when the queue is full)."""
        stream = cls()
        put = stream._put
        sink = Sink(
            on_chunk=lambda text, n: put(("chunk", text, n)),
            on_finished=lambda result: put(("done", result)),
            on_failed=lambda error: put(("failed", error)),
        )
        stream.handle = scheduler.submit(job, sink, client=client)
        return stream

    def _put(self, item: tuple[Any, ...]) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

    async def chunks(self) -> AsyncIterator[str]:
        """The streamed text; raises the job's `EngineError`; cancels the job if left early."""
        finished = False
        try:
            while True:
                items = [await self._queue.get()]
                while not self._queue.empty():  # the client is behind: send what came as one
                    items.append(self._queue.get_nowait())
                text = []
                for item in items:
                    if item[0] == "chunk":
                        self.tokens += item[2]
                        text.append(item[1])
                    elif item[0] == "done":
                        self.result = item[1]
                        finished = True
                    else:
                        finished = True
                        error: EngineError = item[1]
                        raise error
                if text:
                    yield "".join(text)
                if finished:
                    return
        finally:
            if not finished:
                self.cancel()

    async def wait(self) -> Any:
        """Run to the end without streaming; the job's result."""
        async for _ in self.chunks():
            pass
        return self.result
