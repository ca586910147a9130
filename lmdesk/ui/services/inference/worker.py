"""The inference worker: the one owner of the chat's engine, on its own QThread.

The engine is an `EngineSwitch`: llama.cpp in this process, or in a child process for a
model split over `lmdesk worker`s (a worker that dies mid-reply ends that child with a
clear error, not the app), or a remote server's model.

The thread runs the serving core's queue (`core.serving.ModelScheduler`) for that
engine, so the chat and the API server share one FIFO for the model: a request from
either waits its turn, and `busy_client` says whose turn it is. The `submit_*` methods
are called from the GUI thread; each job reports on the worker's thread through a
`Sink`, which this class turns into signals (delivered queued on the GUI thread).
Nothing here touches a widget. Stop and Cancel are the jobs' `threading.Event`s.

The engine (and llama.cpp with it) is imported on this thread when it starts, so
building the chat page does not pay for loading the native library.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from lmdesk.ui.services.inference.batching import CHUNK_INTERVAL_S, ChunkBatcher
from lmdesk.ui.services.inference.loaded import LoadedModel

if TYPE_CHECKING:
    from lmdesk.core.engine import EngineError, LoadReport, ReplyStats, SamplingSettings
    from lmdesk.core.engine.switch import EngineSwitch
    from lmdesk.core.load_settings import LoadSettings
    from lmdesk.core.remote_engines import RemoteModel
    from lmdesk.core.serving import ModelScheduler

_log = logging.getLogger(__name__)

PROGRESS_STEP = 0.01
"""Load progress is reported in steps of 1 % (llama.cpp calls back per tensor)."""
CHAT_CLIENT = "chat"
"""The scheduler's client label for the chat pane (the API server's is "api")."""


class InferenceWorker(QObject):
    """Loads, unloads, counts tokens and streams replies, one job at a time, in order."""

    sig_ready = Signal()
    """The engine is made and its queue runs (llama.cpp is imported)."""
    sig_load_progress = Signal(float)
    """fraction 0.0..1.0 of the weights loaded."""
    sig_loaded = Signal(object)
    """LoadedModel: the model is loaded and ready to chat."""
    sig_load_failed = Signal(object)
    """EngineError: why the load failed (``str()`` is a sentence for a person; the type says
    what kind of failure, e.g. `OutOfMemory`), or why a loaded model was lost (its process
    ended when a worker died mid-reply, after `sig_failed`). Nothing is loaded now."""
    sig_load_cancelled = Signal()
    """The load was cancelled. Nothing is loaded now."""
    sig_unloaded = Signal(object)
    """UnloadReport: memory before and after (``.freed`` bytes)."""
    sig_chunk = Signal(int, str)
    """request id, text: more reply text (chunks coalesced for up to ~16 ms)."""
    sig_finished = Signal(int, object)
    """request id, ReplyStats: the reply ended (any stop reason, Stop included)."""
    sig_failed = Signal(int, str)
    """request id, message: the reply could not start or broke off."""
    sig_token_count = Signal(int, int)
    """request id, tokens: the prompt size of the messages given to `count_tokens`."""
    sig_template_changed = Signal(str, str)
    """template name now in use, error message ('' when the change worked)."""

    def __init__(self, *, chunk_interval_s: float = CHUNK_INTERVAL_S) -> None:
        super().__init__()
        self._engine: EngineSwitch | None = None
        self.scheduler: ModelScheduler | None = None
        """The model's queue; None until the thread has started (then `sig_ready`)."""
        self.started = threading.Event()
        """Set once `scheduler` exists (shutdown waits for it before closing the queue)."""
        self._chunk_interval_s = chunk_interval_s

    # -- on the worker's thread ------------------------------------------------------------
    def run(self) -> None:
        """The thread's body: make the engine and its queue, then run jobs until closed."""
        from lmdesk.core.engine.switch import EngineSwitch
        from lmdesk.core.serving import ModelScheduler

        self._engine = EngineSwitch()  # a file here or in a child process, or a remote model
        self.scheduler = ModelScheduler(self._engine, name="chat")
        self.started.set()
        self.sig_ready.emit()
        self.scheduler.run_forever()  # closes the engine when the queue is closed

    # -- submitting (GUI thread, once `sig_ready` came) ------------------------------------
    def submit_load(
        self, path: str | RemoteModel, settings: LoadSettings, cancel: threading.Event
    ) -> None:
        from lmdesk.core.engine import EngineError, LoadCancelled
        from lmdesk.core.remote_engines import RemoteModel
        from lmdesk.core.serving import LoadJob, Sink

        last = -1.0

        def progress(fraction: float) -> bool:
            nonlocal last
            if fraction >= 1.0 or fraction - last >= PROGRESS_STEP:
                last = fraction
                self.sig_load_progress.emit(float(fraction))
            return not cancel.is_set()

        def loaded(report: LoadReport) -> None:
            engine = self._require_engine()
            self.sig_loaded.emit(
                LoadedModel(
                    report=report,
                    templates=tuple(engine.available_templates()),
                    gpu_offload=not report.remote_server and _gpu_offload_supported(),
                )
            )

        def failed(error: EngineError) -> None:
            if isinstance(error, LoadCancelled) or cancel.is_set():
                self.sig_load_cancelled.emit()
            else:
                self.sig_load_failed.emit(error)

        if cancel.is_set():
            failed(LoadCancelled("The load was cancelled."))
            return
        try:
            self._scheduler().submit(
                LoadJob(
                    path if isinstance(path, RemoteModel) else Path(path),
                    settings,
                    on_progress=progress,
                ),
                Sink(on_finished=loaded, on_failed=failed),
                client=CHAT_CLIENT,
                cancel=cancel,
            )
        except EngineError as exc:  # the queue is full or closing
            failed(exc)

    def submit_unload(self) -> None:
        from lmdesk.core.engine import EngineError
        from lmdesk.core.serving import Sink, UnloadJob

        def failed(error: EngineError) -> None:
            _log.error("unload failed: %s", error)
            self.sig_load_failed.emit(EngineError(f"The model could not be unloaded: {error}"))

        try:
            self._scheduler().submit(
                UnloadJob(), Sink(on_finished=self.sig_unloaded.emit, on_failed=failed)
            )
        except EngineError as exc:
            failed(exc)

    def submit_reply(
        self,
        request_id: int,
        messages: Sequence[dict[str, str]],
        sampling: SamplingSettings,
        policy: str,
        continue_last: bool,
        stop: threading.Event,
    ) -> None:
        from lmdesk.core.engine import EngineError
        from lmdesk.core.serving import ChatJob, Sink

        batcher = ChunkBatcher(self._chunk_interval_s)

        def chunk(text: str, _tokens: int) -> None:
            out = batcher.add(text)
            if out:
                self.sig_chunk.emit(request_id, out)

        def finished(stats: ReplyStats) -> None:
            self._emit_rest(request_id, batcher)
            self.sig_finished.emit(request_id, stats)

        def failed(error: EngineError) -> None:
            self._emit_rest(request_id, batcher)
            self.sig_failed.emit(request_id, str(error))
            engine = self._engine
            if engine is not None and engine.lost:  # a worker died: the model is gone
                self.sig_load_failed.emit(error)

        job = ChatJob(
            messages,  # role/content dicts, as the engine takes
            sampling,
            continue_last=continue_last,
            context_policy=policy,  # type: ignore[arg-type]  # one of the engine's policies
        )
        sink = Sink(on_chunk=chunk, on_finished=finished, on_failed=failed)
        try:
            self._scheduler().submit(job, sink, client=CHAT_CLIENT, cancel=stop)
        except EngineError as exc:
            failed(exc)

    def submit_count(self, request_id: int, messages: Sequence[dict[str, str]]) -> None:
        """Count the prompt these messages make; silent when it cannot (no model, a template
        that cannot render a draft)."""
        from lmdesk.core.engine import EngineError
        from lmdesk.core.serving import CountTokensJob, Sink

        def counted(tokens: int) -> None:
            self.sig_token_count.emit(request_id, int(tokens))

        def failed(error: EngineError) -> None:
            _log.debug("counting tokens failed: %s", error)

        try:
            self._scheduler().submit(
                CountTokensJob(messages=messages),
                Sink(on_finished=counted, on_failed=failed),
                client=CHAT_CLIENT,
            )
        except EngineError as exc:
            failed(exc)

    def submit_template(self, name: str) -> None:
        from lmdesk.core.engine import EngineError
        from lmdesk.core.serving import SetTemplateJob, Sink

        def changed(current: str) -> None:
            self.sig_template_changed.emit(current, "")

        def failed(error: EngineError) -> None:
            engine = self._engine
            current = engine.chat_template if engine is not None and engine.loaded else ""
            self.sig_template_changed.emit(current, str(error))

        try:
            self._scheduler().submit(
                SetTemplateJob(name), Sink(on_finished=changed, on_failed=failed)
            )
        except EngineError as exc:
            failed(exc)

    # -- the end ---------------------------------------------------------------------------
    def close_queue(self) -> None:
        """Cancel what waits and runs; the thread's `run` then ends and frees the model."""
        if self.scheduler is not None:
            self.scheduler.close(timeout=0)

    def close(self) -> None:
        """Forget the engine. Called by the controller once this worker's thread has ended."""
        self._engine = None
        self.scheduler = None

    def _scheduler(self) -> ModelScheduler:
        if self.scheduler is None:
            raise RuntimeError("the inference thread has not started")
        return self.scheduler

    def _require_engine(self) -> EngineSwitch:
        if self._engine is None:
            raise RuntimeError("the inference thread has not started")
        return self._engine

    def _emit_rest(self, request_id: int, batcher: ChunkBatcher) -> None:
        rest = batcher.flush()
        if rest:
            self.sig_chunk.emit(request_id, rest)


CPU_SIDE_BACKENDS = frozenset({"CPU", "BLAS", "RPC"})


def _gpu_offload_supported() -> bool:
    """Whether offloaded layers land on a local GPU (llama.cpp's own flag is also
    true for an RPC-only build, whose layers stay on this machine's CPU)."""
    from lmdesk.core.gpus import llama_build_info

    build = llama_build_info()
    return build.gpu_offload and any(b not in CPU_SIDE_BACKENDS for b in build.backends)
