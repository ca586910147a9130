"""The GUI's handle on inference: plain methods in, GUI-thread signals out.

It owns the worker's QThread and the worker, whose thread runs the model's queue
(`core.serving.ModelScheduler`). Requests become jobs in that queue, in order; each
reply and each load gets its own `threading.Event`, set directly by `stop()` /
`cancel_load()`. Requests made before the thread is up wait here and go in order
once it is (`ready`). Results come back queued; the controller updates its state,
then re-emits them, so a slot connected here always sees `loaded_model` and
`generating` up to date. `scheduler` is the queue the API server shares.

Shutdown (gpt4all's ChatLLM order): set the flags, close the queue, wait for the
thread (which frees the model as it ends).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal

from lmdesk.ui.services.inference.batching import CHUNK_INTERVAL_S
from lmdesk.ui.services.inference.loaded import LoadedModel
from lmdesk.ui.services.inference.worker import InferenceWorker

if TYPE_CHECKING:
    from lmdesk.core.engine import EngineError, ReplyStats, SamplingSettings, UnloadReport
    from lmdesk.core.load_settings import LoadSettings
    from lmdesk.core.remote_engines import RemoteModel
    from lmdesk.core.serving import ModelScheduler

_log = logging.getLogger(__name__)

Messages = Sequence[dict[str, str]]

_live: weakref.WeakSet[InferenceController] = weakref.WeakSet()


@atexit.register
def _shutdown_live_controllers() -> None:
    """Last resort when the app ends without `shutdown()` (a crash in start-up code):
    a QThread destroyed while running aborts the interpreter."""
    for controller in list(_live):
        controller.shutdown(timeout_s=10)


class _EngineThread(QThread):
    """The inference thread: its body is the worker's queue loop, not a Qt event loop."""

    def __init__(self, worker: InferenceWorker) -> None:
        super().__init__()
        self._worker = worker

    def run(self) -> None:
        self._worker.run()


class InferenceController(QObject):
    """One model, one reply at a time, never on the GUI thread."""

    ready = Signal()
    """llama.cpp is imported on the worker thread (after `warm_up`)."""
    load_started = Signal(str)
    """path of the model being loaded (a remote model's "server / model id")."""
    load_progress = Signal(float)
    """fraction 0.0..1.0."""
    loaded = Signal(object)
    """LoadedModel."""
    load_failed = Signal(object)
    """EngineError (``str()`` is for a person, the type says what failed); nothing is loaded."""
    load_cancelled = Signal()
    unloaded = Signal(object)
    """UnloadReport (``.freed`` bytes of RAM)."""
    chunk = Signal(int, str)
    """request id, text."""
    finished = Signal(int, object)
    """request id, ReplyStats."""
    failed = Signal(int, str)
    """request id, message for a person."""
    token_count = Signal(int, int)
    """request id, tokens."""
    template_changed = Signal(str, str)
    """template name in use, error ('' if none)."""
    busy_changed = Signal(bool)
    """True while a load or a reply is running."""

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        chunk_interval_s: float = CHUNK_INTERVAL_S,
        warm_up: bool = True,
    ) -> None:
        """``warm_up`` starts the worker thread (which imports llama.cpp) right away, so the
        first load does not wait for it; otherwise the first request starts it."""
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._loaded: LoadedModel | None = None
        self._loading: str | None = None
        self._load_cancel: threading.Event | None = None
        self._reply_id: int | None = None
        self._reply_stop: threading.Event | None = None
        self._closed = False
        self._ready = False
        self._pending: list[Callable[[], None]] = []
        self.worker = InferenceWorker(chunk_interval_s=chunk_interval_s)
        self._thread = _EngineThread(self.worker)
        self._thread.setObjectName("lmdesk-inference")
        self.worker.moveToThread(self._thread)
        self._wire()
        _live.add(self)
        if warm_up:
            self.warm_up()

    def _wire(self) -> None:
        w = self.worker
        w.sig_ready.connect(self._on_ready)
        w.sig_load_progress.connect(self.load_progress)
        w.sig_loaded.connect(self._on_loaded)
        w.sig_load_failed.connect(self._on_load_failed)
        w.sig_load_cancelled.connect(self._on_load_cancelled)
        w.sig_unloaded.connect(self._on_unloaded)
        w.sig_chunk.connect(self.chunk)
        w.sig_finished.connect(self._on_finished)
        w.sig_failed.connect(self._on_failed)
        w.sig_token_count.connect(self.token_count)
        w.sig_template_changed.connect(self.template_changed)

    # -- state --------------------------------------------------------------------------------
    @property
    def loaded_model(self) -> LoadedModel | None:
        return self._loaded

    @property
    def loading(self) -> bool:
        return self._loading is not None

    @property
    def loading_path(self) -> str | None:
        """The model being loaded, if a load is running."""
        return self._loading

    @property
    def generating(self) -> bool:
        return self._reply_id is not None

    @property
    def busy(self) -> bool:
        return self.loading or self.generating

    @property
    def current_request(self) -> int | None:
        return self._reply_id

    @property
    def worker_thread(self) -> QThread:
        return self._thread

    @property
    def scheduler(self) -> ModelScheduler | None:
        """The model's queue (None until the thread is up): the API server submits to it."""
        return self.worker.scheduler

    @property
    def busy_client(self) -> str | None:
        """Who the model is serving now: "chat", "api" (the API server), or None."""
        scheduler = self.worker.scheduler
        return None if scheduler is None else scheduler.busy_client

    # -- requests -----------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Start the worker thread now (it imports llama.cpp; `ready` follows)."""
        self._require_open()
        if not self._thread.isRunning() and not self._ready:
            self._thread.start()

    def _when_ready(self, request: Callable[[], None]) -> None:
        """Run `request` now if the queue is up, else in order once it is."""
        if self._ready:
            request()
            return
        self._pending.append(request)
        self.warm_up()

    def _on_ready(self) -> None:
        self._ready = True
        pending, self._pending = self._pending, []
        for request in pending:
            request()
        self.ready.emit()

    def load(self, path: str | RemoteModel, settings: LoadSettings) -> None:
        """Load ``path`` (replacing the current model), a file or a remote server's model.
        A running reply is stopped first."""
        self._require_open()
        label = path if isinstance(path, str) else path.label
        self.stop()
        if self._load_cancel is not None:
            self._load_cancel.set()  # a newer load replaces one still queued or running
        was_busy = self.busy
        self._load_cancel = threading.Event()
        self._loading = label
        self.load_started.emit(label)
        cancel = self._load_cancel
        self._when_ready(lambda: self.worker.submit_load(path, settings, cancel))
        self._busy_may_have_changed(was_busy)

    def cancel_load(self) -> None:
        if self._load_cancel is not None:
            self._load_cancel.set()

    def unload(self) -> None:
        self._require_open()
        self.stop()
        self.cancel_load()
        self._when_ready(self.worker.submit_unload)

    def generate(
        self,
        messages: Messages,
        sampling: SamplingSettings,
        *,
        policy: str = "truncate_oldest",
        continue_last: bool = False,
    ) -> int:
        """Start a reply; returns its request id (the id in `chunk`/`finished`/`failed`)."""
        self._require_open()
        if self._reply_id is not None:
            raise RuntimeError("a reply is already being generated; stop it first")
        was_busy = self.busy
        request_id = next(self._ids)
        self._reply_id = request_id
        self._reply_stop = threading.Event()
        copies = [dict(m) for m in messages]  # the worker never sees a list the GUI changes
        stop = self._reply_stop
        self._when_ready(
            lambda: self.worker.submit_reply(
                request_id, copies, sampling, policy, continue_last, stop
            )
        )
        self._busy_may_have_changed(was_busy)
        return request_id

    def stop(self) -> None:
        """Stop the running reply within a token (it then finishes with "user_stop")."""
        if self._reply_stop is not None:
            self._reply_stop.set()

    def count_tokens(self, messages: Messages) -> int | None:
        """Ask for an exact count; None (no request) while busy or with no model."""
        if self._closed or self.busy or self._loaded is None:
            return None
        request_id = next(self._ids)
        copies = [dict(m) for m in messages]
        self._when_ready(lambda: self.worker.submit_count(request_id, copies))
        return request_id

    def set_chat_template(self, name: str) -> None:
        """Use another chat template: "gguf", a built-in's name, "completion", or the person's
        own Jinja source as a `core.engine.templates.CustomTemplate`."""
        self._require_open()
        self._when_ready(lambda: self.worker.submit_template(name))

    # -- results ------------------------------------------------------------------------------
    def _on_loaded(self, loaded: LoadedModel) -> None:
        was_busy = self.busy
        self._loaded, self._loading, self._load_cancel = loaded, None, None
        self.loaded.emit(loaded)
        self._busy_may_have_changed(was_busy)

    def _on_load_failed(self, error: EngineError) -> None:
        was_busy = self.busy
        self._loaded, self._loading, self._load_cancel = None, None, None
        self.load_failed.emit(error)
        self._busy_may_have_changed(was_busy)

    def _on_load_cancelled(self) -> None:
        was_busy = self.busy
        self._loaded, self._loading, self._load_cancel = None, None, None
        self.load_cancelled.emit()
        self._busy_may_have_changed(was_busy)

    def _on_unloaded(self, report: UnloadReport) -> None:
        self._loaded = None
        self.unloaded.emit(report)

    def _on_finished(self, request_id: int, stats: ReplyStats) -> None:
        was_busy = self._end_reply(request_id)
        self.finished.emit(request_id, stats)
        self._busy_may_have_changed(was_busy)

    def _on_failed(self, request_id: int, message: str) -> None:
        was_busy = self._end_reply(request_id)
        self.failed.emit(request_id, message)
        self._busy_may_have_changed(was_busy)

    def _end_reply(self, request_id: int) -> bool:
        was_busy = self.busy
        if request_id == self._reply_id:
            self._reply_id, self._reply_stop = None, None
        return was_busy

    def _busy_may_have_changed(self, was_busy: bool) -> None:
        if self.busy != was_busy:
            self.busy_changed.emit(self.busy)

    # -- shutdown -----------------------------------------------------------------------------
    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Stop, quit and wait for the worker's thread, then free the model.

        Returns False if the thread did not end in time (the model is then
        left loaded rather than freed under a running thread).
        """
        if self._closed:
            return True
        self._closed = True
        _live.discard(self)
        self.stop()
        self.cancel_load()
        self._pending.clear()
        if self._thread.isRunning():
            self.worker.started.wait(timeout_s)  # still importing llama.cpp: let it finish
        self.worker.close_queue()  # the thread's loop ends and frees the model
        if not self._thread.wait(int(timeout_s * 1000)):
            _log.error("the inference thread did not stop within %.0f s", timeout_s)
            return False
        self.worker.close()  # its thread has ended: nothing else can touch the engine now
        self._loaded = None
        return True

    @property
    def closed(self) -> bool:
        return self._closed

    def _require_open(self) -> None:
        if self._closed:
            raise RuntimeError("the inference controller has been shut down")
