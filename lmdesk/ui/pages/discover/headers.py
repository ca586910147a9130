"""Remote GGUF headers for a repository's models, read one after another in the background.

Each header is a few hundred kilobytes read with HTTP ranges (cached on disk, so a
second visit costs nothing); a split model's parts are each read and merged. Opening
another repository cancels the rest. A gated repository stops the queue at the first
refusal: every other file would be refused the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from lmdesk.core.estimate.projector import ProjectorInfo
from lmdesk.core.gguf import ModelInfo
from lmdesk.core.hub import FileKind, RemoteModel
from lmdesk.ui.pages.discover.search import RATE_LIMITED
from lmdesk.ui.services.background import BackgroundTask, Progress
from lmdesk.ui.services.task_group import TaskGroup


@dataclass(frozen=True)
class HeaderResult:
    name: str
    info: ModelInfo | None
    error: str | None = None
    gated: bool = False
    kind: FileKind = "model"
    projector: ProjectorInfo | None = None
    """Read when the file is a vision projector libmtmd can load (its memory in the verdicts)."""


def read_model_header(
    model: RemoteModel, *, endpoint: str, cache_dir: Path, progress: Progress
) -> HeaderResult:
    """Read (or recall) every part's header and describe the model (or the projector);
    errors become a result."""
    from lmdesk.core.estimate.projector import ProjectorError, projector_info
    from lmdesk.core.gguf import GGUFError, describe, merge_split_headers
    from lmdesk.core.hub import GatedRepoNoAccess, HubError, kind_from_header, read_remote_header

    try:
        headers = []
        for number, part in enumerate(model.parts, 1):
            progress("header", number, len(model.parts))
            headers.append(
                read_remote_header(
                    model.repo_id,
                    part.filename,
                    endpoint=endpoint,
                    cache_dir=cache_dir,
                    sha256=part.sha256,
                    size=part.size,
                    on_rate_limit=lambda seconds: progress(RATE_LIMITED, seconds, 0),
                )
            )
            kind = kind_from_header(headers[0].metadata)
            if kind == "projector" and len(model.parts) == 1:
                try:
                    seeing = replace(projector_info(headers[0]), name=part.filename)
                except ProjectorError as exc:
                    return HeaderResult(model.name, None, str(exc), kind=kind)
                return HeaderResult(model.name, None, kind=kind, projector=seeing)
            if kind != "model":
                return HeaderResult(model.name, None, kind=kind)
        header = headers[0] if len(headers) == 1 else merge_split_headers(headers)
        return HeaderResult(model.name, describe(header))
    except GatedRepoNoAccess as exc:
        return HeaderResult(model.name, None, str(exc), gated=True)
    except (HubError, GGUFError) as exc:
        return HeaderResult(model.name, None, str(exc))


class HeaderFetcher(QObject):
    """`fetch(models)` reads their headers in order; one signal per model."""

    header_ready = Signal(str, object)
    """model name, ModelInfo."""
    header_failed = Signal(str, str)
    """model name, why (a sentence)."""
    not_a_model = Signal(str, str)
    """model name, its FileKind: the header says it is a projector, imatrix or adapter."""
    projector_ready = Signal(str, object)
    """the projector's name (as `RemoteModel.name`), its ProjectorInfo: its header was read."""
    gated = Signal(str)
    """the hub's message: the repository is gated and this login has no access."""
    rate_limited = Signal(int)
    """Seconds before the hub is asked again: it answered 429 (Retry-After / RateLimit)."""
    idle = Signal()
    """Every header asked for has arrived (or failed)."""

    def __init__(self, endpoint: str, cache_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.endpoint = endpoint
        self.cache_dir = cache_dir
        self._tasks = TaskGroup(self)
        self._queue: list[RemoteModel] = []
        self._task: BackgroundTask | None = None
        self._generation = 0

    @property
    def busy(self) -> bool:
        return self._task is not None or bool(self._queue)

    def pending(self) -> int:
        return len(self._queue) + (self._task is not None)

    def fetch(self, models: list[RemoteModel]) -> None:
        self.cancel()
        self._queue = list(models)
        self._next()

    def cancel(self) -> None:
        self._generation += 1
        self._queue = []
        self._tasks.cancel(self._task)
        self._task = None

    def wait(self, timeout_s: float = 10.0) -> bool:
        return self._tasks.wait_all(timeout_s)

    def _next(self) -> None:
        if not self._queue:
            self._task = None
            self.idle.emit()
            return
        model = self._queue.pop(0)
        generation, endpoint, cache_dir = self._generation, self.endpoint, self.cache_dir

        def work(progress: Progress) -> HeaderResult:
            return read_model_header(
                model, endpoint=endpoint, cache_dir=cache_dir, progress=progress
            )

        def done(result: HeaderResult) -> None:
            if generation != self._generation:
                return
            self._task = None
            if result.info is not None:
                self.header_ready.emit(result.name, result.info)
            elif result.kind != "model":
                self.not_a_model.emit(result.name, result.kind)
                if result.projector is not None:
                    self.projector_ready.emit(result.name, result.projector)
                elif result.error:  # a projector libmtmd could not load
                    self.header_failed.emit(result.name, result.error)
            else:
                self.header_failed.emit(result.name, result.error or "unknown error")
            if result.gated:
                for skipped in self._queue:
                    self.header_failed.emit(skipped.name, result.error or "")
                self._queue = []
                self.gated.emit(result.error or "")
            self._next()

        def failed(message: str, _details: str) -> None:
            if generation != self._generation:
                return
            self._task = None
            self.header_failed.emit(model.name, message)
            self._next()

        def progress(stage: str, seconds: int, _total: int) -> None:
            if stage == RATE_LIMITED and generation == self._generation:
                self.rate_limited.emit(seconds)

        self._task = self._tasks.start(work, name="remote-header", done=done, failed=failed)
        self._task.sig_progress.connect(progress)
