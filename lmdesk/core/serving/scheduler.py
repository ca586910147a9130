"""One engine, one thread, one FIFO queue: every job for a loaded model goes through here.

    scheduler = ModelScheduler()                 # owns a fresh EngineSwitch
    scheduler.start_thread()                     # or run `run_forever()` on a thread you own
    handle = scheduler.submit(ChatJob(messages), Sink(on_chunk=show), client="api")
    handle.cancel()                              # Stop: takes effect within one token
    stats = handle.wait()                        # ReplyStats, or raises the EngineError

The sink's callbacks run on the scheduler's thread; callers bridge to their own (asyncio's
``loop.call_soon_threadsafe``, Qt's queued signals). At most ``max_queue`` jobs wait;
`submit` raises `QueueFull` beyond that. `busy_client` says who is being served ("chat",
"api"), so each side can show that the model is busy with the other.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..engine import EngineError, LoadReport
from ..engine.switch import EngineSwitch
from .errors import InvalidJob, JobCancelled, QueueFull
from .jobs import Job, LoadJob, UnloadJob

_log = logging.getLogger(__name__)

DEFAULT_MAX_QUEUE = 16


def _ignore(*_: Any) -> None:
    return None


@dataclass(frozen=True)
class Sink:
    """Where a job reports, on the scheduler's thread: streamed text, then exactly one of
    ``on_finished(result)`` or ``on_failed(error)``."""

    on_chunk: Callable[[str, int], None] = _ignore
    on_finished: Callable[[Any], None] = _ignore
    on_failed: Callable[[EngineError], None] = _ignore


class JobHandle:
    """A submitted job: cancel it, wait for it, see how long it waited."""

    def __init__(
        self, job: Job, sink: Sink, client: str, cancel: threading.Event | None = None
    ) -> None:
        self.job = job
        self.sink = sink
        self.client = client
        self.cancel_event = cancel if cancel is not None else threading.Event()
        self.enqueued_at = time.monotonic()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.result: Any = None
        self.error: EngineError | None = None
        self._done = threading.Event()

    def cancel(self) -> None:
        """Stop the job: skipped if still waiting, stopped within one token if running."""
        self.cancel_event.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def queue_wait_s(self) -> float | None:
        """Seconds between `submit` and the start (None while waiting)."""
        return None if self.started_at is None else self.started_at - self.enqueued_at

    def wait(self, timeout: float | None = None) -> Any:
        """The job's result; raises its `EngineError`, or TimeoutError."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"the {self.job.kind} job did not finish in {timeout} s")
        if self.error is not None:
            raise self.error
        return self.result

    def _finish(self, result: Any, error: EngineError | None) -> None:
        self.result, self.error = result, error
        self.finished_at = time.monotonic()
        try:
            if error is None:
                self.sink.on_finished(result)
            else:
                self.sink.on_failed(error)
        except Exception:  # a caller's bug must not stop the queue for everyone else
            _log.exception("the sink of a %s job failed", self.job.kind)
        finally:
            self._done.set()


class ModelScheduler:
    """Owns one engine (an `EngineSwitch`: a file here, or in a child process for a load
    over workers, or a remote server's model) and runs its jobs one at a time, first come
    first served."""

    def __init__(
        self,
        engine: EngineSwitch | None = None,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        name: str = "",
    ) -> None:
        self.engine = engine if engine is not None else EngineSwitch()
        """Touch it only from jobs (the scheduler's thread); read `report` from anywhere."""
        self.max_queue = max_queue
        self.name = name
        self._waiting: deque[JobHandle] = deque()
        self._current: JobHandle | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.last_used = time.monotonic()
        self.report: LoadReport | None = None
        """The loaded model's report (None when nothing is loaded); set on the queue's thread."""

    # --- submitting -------------------------------------------------------------------

    def submit(
        self,
        job: Job,
        sink: Sink | None = None,
        *,
        client: str = "api",
        cancel: threading.Event | None = None,
    ) -> JobHandle:
        """Queue ``job``; raises `QueueFull` when ``max_queue`` jobs are already waiting.

        ``cancel`` is the caller's own Stop event, if it has one (the chat's Stop button);
        else the handle makes one (`JobHandle.cancel`)."""
        handle = JobHandle(job, sink or Sink(), client, cancel)
        with self._cond:
            if self._closed:
                raise JobCancelled("The model is being unloaded; ask again.")
            if len(self._waiting) >= self.max_queue:
                raise QueueFull(
                    f"{len(self._waiting)} requests are already waiting for this model; "
                    "try again shortly.",
                    retry_after_s=1,
                )
            self._waiting.append(handle)
            self.last_used = time.monotonic()
            self._cond.notify_all()
        return handle

    # --- state ------------------------------------------------------------------------

    @property
    def busy_client(self) -> str | None:
        """The client label of the job running now ("chat", "api"), None when idle."""
        current = self._current
        return None if current is None else current.client

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def idle(self) -> bool:
        """Nothing running and nothing waiting."""
        with self._cond:
            return self._current is None and not self._waiting

    @property
    def closed(self) -> bool:
        return self._closed

    # --- the loop ---------------------------------------------------------------------

    def run_forever(self) -> None:
        """Run jobs until `close()`; then unload the model. Call it on the engine's thread."""
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed and not self._waiting:
                    break
                handle = self._waiting.popleft()
                self._current = handle
            try:
                self._run(handle)
            finally:
                with self._cond:
                    self._current = None
                    self.last_used = time.monotonic()
                    self._cond.notify_all()
        self.engine.close()
        self.report = None

    def start_thread(self) -> threading.Thread:
        """Run `run_forever` on a daemon thread of its own (headless use)."""
        thread = threading.Thread(
            target=self.run_forever, name=f"lmdesk-model {self.name}".strip(), daemon=True
        )
        self._thread = thread
        thread.start()
        return thread

    def close(self, *, timeout: float | None = 30.0) -> None:
        """Cancel what waits and what runs, let the loop end and unload, join our thread."""
        with self._cond:
            self._closed = True
            dropped = list(self._waiting)
            self._waiting.clear()
            if self._current is not None:
                self._current.cancel()
            self._cond.notify_all()
        for handle in dropped:
            handle.cancel()
            handle._finish(None, JobCancelled("The model was unloaded before this request ran."))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing runs or waits; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._current is not None or self._waiting:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self, handle: JobHandle) -> None:
        handle.started_at = time.monotonic()
        if handle.cancel_event.is_set():
            handle._finish(None, JobCancelled("The request was cancelled before it started."))
            return
        result: Any = None
        error: EngineError | None = None
        try:
            result = handle.job.run(self.engine, handle.cancel_event, handle.sink.on_chunk)
        except EngineError as exc:
            error = exc
        except ValueError as exc:  # an empty prompt, an unknown template name
            error = InvalidJob(str(exc))
        except Exception as exc:  # a sink that raised, a bug: this job fails, the queue goes on
            _log.exception("a %s job failed", handle.job.kind)
            error = EngineError(f"The {handle.job.kind} job failed: {exc!r}")
        if isinstance(handle.job, LoadJob | UnloadJob):
            self.report = self.engine.report
        handle._finish(result, error)
