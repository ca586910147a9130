"""The inference worker: the one owner of the `Engine`, living on its own QThread.

Every slot runs on the worker's thread (the controller calls them through
queued signals); every result goes back as a signal, delivered queued on the
GUI thread. Nothing here touches a widget. Stop and Cancel arrive as
`threading.Event`s passed with each request, so the GUI can set them while a
slot is still running.

The engine (and llama.cpp with it) is imported on this thread, on first use,
so building the chat page does not pay for loading the native library.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from lmdesk.ui.services.inference.batching import CHUNK_INTERVAL_S, ChunkBatcher
from lmdesk.ui.services.inference.loaded import LoadedModel

if TYPE_CHECKING:
    from lmdesk.core.engine import Engine, ReplyStats, SamplingSettings
    from lmdesk.core.load_settings import LoadSettings

_log = logging.getLogger(__name__)

PROGRESS_STEP = 0.01
"""Load progress is reported in steps of 1 % (llama.cpp calls back per tensor)."""


class InferenceWorker(QObject):
    """Loads, unloads, counts tokens and streams replies, one request at a time."""

    sig_ready = Signal()
    """The engine module is imported (the first slot call, `warm_up`, did it)."""
    sig_load_progress = Signal(float)
    """fraction 0.0..1.0 of the weights loaded."""
    sig_loaded = Signal(object)
    """LoadedModel: the model is loaded and ready to chat."""
    sig_load_failed = Signal(object)
    """EngineError: why the load failed (``str()`` is a sentence for a person; the type says
    what kind of failure, e.g. `OutOfMemory`). Nothing is loaded now."""
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
        self._engine: Engine | None = None
        self._chunk_interval_s = chunk_interval_s

    @property
    def engine(self) -> Engine:
        """The engine, created on first use (on the worker's thread)."""
        if self._engine is None:
            from lmdesk.core.engine import Engine

            self._engine = Engine()
        return self._engine

    @Slot()
    def warm_up(self) -> None:
        self.engine  # noqa: B018 - imports llama.cpp here, off the GUI thread
        self.sig_ready.emit()

    @Slot(str, object, object)
    def load(self, path: str, settings: LoadSettings, cancel: threading.Event) -> None:
        from lmdesk.core.engine import EngineError, LoadCancelled

        last = -1.0

        def progress(fraction: float) -> bool:
            nonlocal last
            if fraction >= 1.0 or fraction - last >= PROGRESS_STEP:
                last = fraction
                self.sig_load_progress.emit(float(fraction))
            return not cancel.is_set()

        try:
            if cancel.is_set():
                raise LoadCancelled("The load was cancelled.")
            report = self.engine.load(path, settings, on_progress=progress)
            loaded = LoadedModel(
                report=report,
                templates=tuple(self.engine.available_templates()),
                gpu_offload=_gpu_offload_supported(),
            )
        except LoadCancelled:
            self.sig_load_cancelled.emit()
        except EngineError as exc:
            self.sig_load_failed.emit(exc)
        except Exception as exc:  # a bug, not a bad file: still keep the app usable
            _log.exception("loading %s failed", path)
            message = f"Loading {Path(path).name} failed unexpectedly: {exc}"
            self.sig_load_failed.emit(EngineError(message))
        else:
            self.sig_loaded.emit(loaded)

    @Slot()
    def unload(self) -> None:
        try:
            report = self.engine.unload()
        except Exception as exc:
            _log.exception("unload failed")
            from lmdesk.core.engine import EngineError

            self.sig_load_failed.emit(EngineError(f"The model could not be unloaded: {exc}"))
            return
        self.sig_unloaded.emit(report)

    @Slot(int, object, object, str, bool, object)
    def generate(
        self,
        request_id: int,
        messages: Sequence[dict[str, str]],
        sampling: SamplingSettings,
        policy: str,
        continue_last: bool,
        stop: threading.Event,
    ) -> None:
        from lmdesk.core.engine import EngineError, ReplyStats

        batcher = ChunkBatcher(self._chunk_interval_s)
        stats: ReplyStats | None = None
        try:
            stream = self.engine.chat(
                messages,
                sampling,
                stop_flag=stop,
                context_policy=policy,  # type: ignore[arg-type]
                continue_last=continue_last,
            )
            for item in stream:
                if isinstance(item, ReplyStats):
                    stats = item
                else:
                    text = batcher.add(item.text)
                    if text:
                        self.sig_chunk.emit(request_id, text)
        except EngineError as exc:
            self._emit_rest(request_id, batcher)
            self.sig_failed.emit(request_id, str(exc))
            return
        except Exception as exc:
            _log.exception("reply %d failed", request_id)
            self._emit_rest(request_id, batcher)
            self.sig_failed.emit(request_id, f"The reply failed unexpectedly: {exc}")
            return
        self._emit_rest(request_id, batcher)
        if stats is None:  # the engine always ends with stats; be loud if it ever does not
            self.sig_failed.emit(request_id, "The reply ended without its statistics.")
        else:
            self.sig_finished.emit(request_id, stats)

    def _emit_rest(self, request_id: int, batcher: ChunkBatcher) -> None:
        rest = batcher.flush()
        if rest:
            self.sig_chunk.emit(request_id, rest)

    @Slot(int, object)
    def count_tokens(self, request_id: int, messages: Sequence[dict[str, str]]) -> None:
        """Count the prompt these messages make; silent when no model is loaded."""
        engine = self.engine
        if not engine.loaded:
            return
        try:
            tokens = engine.count_message_tokens(messages)
        except Exception as exc:  # a template that cannot render a draft: no count
            _log.debug("counting tokens failed: %s", exc)
            return
        self.sig_token_count.emit(request_id, tokens)

    @Slot(str)
    def set_chat_template(self, name: str) -> None:
        engine = self.engine
        try:
            engine.chat_template = name
        except Exception as exc:
            current = engine.chat_template if engine.loaded else ""
            self.sig_template_changed.emit(current, str(exc))
            return
        self.sig_template_changed.emit(engine.chat_template, "")

    def close(self) -> None:
        """Free the model. Called by the controller once this worker's thread has ended."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None


CPU_SIDE_BACKENDS = frozenset({"CPU", "BLAS", "RPC"})


def _gpu_offload_supported() -> bool:
    """Whether offloaded layers land on a local GPU (llama.cpp's own flag is also
    true for an RPC-only build, whose layers stay on this machine's CPU)."""
    from lmdesk.core.gpus import llama_build_info

    build = llama_build_info()
    return build.gpu_offload and any(b not in CPU_SIDE_BACKENDS for b in build.backends)
