"""The GUI's handle on inference: plain methods in, GUI-thread signals out.

It owns the worker's QThread and the worker. Requests go to the worker as
queued signals, in order; each reply and each load gets its own
`threading.Event`, set directly by `stop()` / `cancel_load()` because the
worker is busy inside the request and would not see a queued call. Results
come back queued; the controller updates its state, then re-emits them, so a
slot connected here always sees `loaded_model` and `generating` up to date.

Shutdown (gpt4all's ChatLLM order): set the flags, quit the thread, wait
for it, then close the engine.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal

from lmdesk.ui.services.inference.batching import CHUNK_INTERVAL_S
from lmdesk.ui.services.inference.loaded import LoadedModel
from lmdesk.ui.services.inference.worker import InferenceWorker

if TYPE_CHECKING:
    from lmdesk.core.engine import EngineError, ReplyStats, SamplingSettings, UnloadReport
    from lmdesk.core.load_settings import LoadSettings

_log = logging.getLogger(__name__)

Messages = Sequence[dict[str, str]]

_live: weakref.WeakSet[InferenceController] = weakref.WeakSet()


@atexit.register
def _shutdown_live_controllers() -> None:
    """Last resort when the app ends without `shutdown()` (a crash in start-up code):
    a QThread destroyed while running aborts the interpreter."""
    for controller in list(_live):
        controller.shutdown(timeout_s=10)


class InferenceController(QObject):
    """One model, one reply at a time, never on the GUI thread."""

    ready = Signal()
    """llama.cpp is imported on the worker thread (after `warm_up`)."""
    load_started = Signal(str)
    """path of the model being loaded."""
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

    # Requests to the worker (queued: the worker lives on another thread).
    _do_warm_up = Signal()
    _do_load = Signal(str, object, object)
    _do_unload = Signal()
    _do_generate = Signal(int, object, object, str, bool, object)
    _do_count = Signal(int, object)
    _do_set_template = Signal(str)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        chunk_interval_s: float = CHUNK_INTERVAL_S,
        warm_up: bool = True,
    ) -> None:
        """``warm_up`` imports llama.cpp on the worker thread right away, so the first load
        does not wait for it."""
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._loaded: LoadedModel | None = None
        self._loading: str | None = None
        self._load_cancel: threading.Event | None = None
        self._reply_id: int | None = None
        self._reply_stop: threading.Event | None = None
        self._closed = False
        self._thread = QThread()
        self._thread.setObjectName("lmdesk-inference")
        self.worker = InferenceWorker(chunk_interval_s=chunk_interval_s)
        self.worker.moveToThread(self._thread)
        self._wire()
        self._thread.start()
        _live.add(self)
        if warm_up:
            self.warm_up()

    def _wire(self) -> None:
        w = self.worker
        self._do_warm_up.connect(w.warm_up)
        self._do_load.connect(w.load)
        self._do_unload.connect(w.unload)
        self._do_generate.connect(w.generate)
        self._do_count.connect(w.count_tokens)
        self._do_set_template.connect(w.set_chat_template)
        w.sig_ready.connect(self.ready)
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

    # -- requests -----------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Import llama.cpp on the worker thread now (`ready` follows)."""
        self._require_open()
        self._do_warm_up.emit()

    def load(self, path: str, settings: LoadSettings) -> None:
        """Load ``path`` (replacing the current model). A running reply is stopped first."""
        self._require_open()
        self.stop()
        if self._load_cancel is not None:
            self._load_cancel.set()  # a newer load replaces one still queued or running
        was_busy = self.busy
        self._load_cancel = threading.Event()
        self._loading = path
        self.load_started.emit(path)
        self._do_load.emit(path, settings, self._load_cancel)
        self._busy_may_have_changed(was_busy)

    def cancel_load(self) -> None:
        if self._load_cancel is not None:
            self._load_cancel.set()

    def unload(self) -> None:
        self._require_open()
        self.stop()
        self.cancel_load()
        self._do_unload.emit()

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
        self._do_generate.emit(
            request_id, copies, sampling, policy, continue_last, self._reply_stop
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
        self._do_count.emit(request_id, [dict(m) for m in messages])
        return request_id

    def set_chat_template(self, name: str) -> None:
        self._require_open()
        self._do_set_template.emit(name)

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
        self._thread.quit()
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
