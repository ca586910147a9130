"""The app's one download queue, shared by Discover (adds) and Downloads (shows, controls).

`download_service(context)` creates it on first use and keeps it in
`context.extras["downloads"]`, so every page that has the context reaches the same
`DownloadManager`. The manager reports from its worker threads; those reports only
emit `_raw`, which Qt queues to this object's (the GUI) thread. Everything else here
runs on the GUI thread: the latest snapshot per job, `downloads_changed` for the status
bar, `models_changed` when a file enters the library. `close()` stops the transfers and
keeps partial files, which the next manager resumes; it runs when the app quits.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from lmdesk.core.downloads import DownloadManager, JobSnapshot, JobState
from lmdesk.ui.context import AppContext

if TYPE_CHECKING:
    from lmdesk.core.hub import RemoteModel

_log = logging.getLogger(__name__)

EXTRAS_KEY = "downloads"
ACTIVE = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.RETRYING, JobState.VERIFYING})


class DownloadService(QObject):
    """Owns the `DownloadManager` (created lazily) and re-emits its updates on the GUI thread."""

    sig_snapshot = Signal(object)
    """JobSnapshot: a job changed (GUI thread)."""
    _raw = Signal(object)

    def __init__(
        self, context: AppContext, parent: QObject | None = None, **manager_options: Any
    ) -> None:
        super().__init__(parent)
        self._context = context
        self._options = manager_options
        self._manager: DownloadManager | None = None
        self._snapshots: dict[str, JobSnapshot] = {}
        self._closed = False
        self._raw.connect(self._on_snapshot)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.close)

    # -- the queue ------------------------------------------------------------------------
    @property
    def manager(self) -> DownloadManager:
        """The manager, started on first use (it resumes the partial files it finds)."""
        if self._manager is None:
            if self._closed:
                raise RuntimeError("the download queue has been closed")
            store = self._context.settings
            self._manager = DownloadManager(
                store.models_dir(),
                endpoint=store.settings.hf_endpoint,
                concurrency=store.settings.download_concurrency,
                on_update=self._raw.emit,
                **self._options,
            )
            for snapshot in self._manager.jobs():  # partials a previous run left
                self._on_snapshot(snapshot)
        return self._manager

    def add_model(self, model: RemoteModel) -> list[JobSnapshot]:
        """Queue every part of `model`; raises `UnsafeName` for a name that is not safe."""
        return [self.manager.add(model.repo_id, part.filename) for part in model.parts]

    def snapshots(self) -> list[JobSnapshot]:
        """The latest snapshot of every job, in the order they were first seen."""
        return list(self._snapshots.values())

    def snapshot(self, job_id: str) -> JobSnapshot | None:
        return self._snapshots.get(job_id)

    def in_library(self, repo_id: str, filename: str) -> bool:
        """True when the file is already in lmdesk's models folder."""
        return self.manager.layout.final_path(repo_id, filename).exists()

    def close(self) -> None:
        """Stop every transfer (partials are kept for next time) and join the threads."""
        self._closed = True
        manager, self._manager = self._manager, None
        if manager is not None:
            manager.close(timeout=10.0)

    # -- updates (GUI thread) -------------------------------------------------------------
    @Slot(object)
    def _on_snapshot(self, snapshot: JobSnapshot) -> None:
        previous = self._snapshots.get(snapshot.job_id)
        self._snapshots[snapshot.job_id] = snapshot
        self.sig_snapshot.emit(snapshot)
        signals = self._context.signals
        active, percent = summary(self._snapshots.values())
        signals.downloads_changed.emit(active, percent)
        arrived = snapshot.state is JobState.DONE and (
            previous is not None and previous.state is not JobState.DONE
        )
        if arrived:
            _log.info("downloaded %s", snapshot.path)
            signals.models_changed.emit()


def summary(snapshots: Any) -> tuple[int, float]:
    """(jobs still moving, percent done over those with a known size) for the status bar."""
    moving = [s for s in snapshots if s.state in ACTIVE]
    sized = [s for s in moving if s.total]
    total = sum(s.total for s in sized)
    done = sum(min(s.bytes_done, s.total) for s in sized)
    return len(moving), (100.0 * done / total if total else 0.0)


def download_service(context: AppContext, **manager_options: Any) -> DownloadService:
    """The context's download service, created on first call (options apply only then)."""
    service = context.extras.get(EXTRAS_KEY)
    if not isinstance(service, DownloadService):
        service = DownloadService(context, **manager_options)
        context.extras[EXTRAS_KEY] = service
    return service
