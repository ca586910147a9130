"""The app's one download queue, shared by Discover (adds) and Downloads (shows, controls).

`download_service(context)` creates it on first use and keeps it in
`context.extras["downloads"]`, so every page that has the context reaches the same
`DownloadManager`. The manager reports from its worker threads; those reports only
emit `_raw`, which Qt queues to this object's (the GUI) thread. Everything else here
runs on the GUI thread: the latest snapshot per job, `downloads_changed` for the status
bar, `models_changed` when a file enters the library. `close()` stops the transfers and
keeps partial files, which the next manager resumes; it runs when the app quits.

Settings apply at once: when the models folder, the Hugging Face server or the number
of downloads at once change, the queue is rebuilt the same way (stop, keep partials,
resume). A new folder waits until the running downloads are done, because their partial
files live in the old one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from lmdesk.core.downloads import DownloadManager, JobSnapshot, JobState
from lmdesk.ui.services.context import AppContext, SettingsStore
from lmdesk.ui.services.errors import report_error

if TYPE_CHECKING:
    from lmdesk.core.hub import RemoteModel

_log = logging.getLogger(__name__)

EXTRAS_KEY = "downloads"
ACTIVE = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.RETRYING, JobState.VERIFYING})


@dataclass(frozen=True)
class QueueConfig:
    """The settings a `DownloadManager` is built with; a change means a new manager."""

    models_dir: Path
    endpoint: str
    concurrency: int

    @classmethod
    def of(cls, store: SettingsStore) -> QueueConfig:
        settings = store.settings
        from lmdesk.core.hub.endpoint import hub_endpoint

        endpoint = hub_endpoint(settings.hf_endpoint)
        return cls(store.models_dir(), endpoint, settings.download_concurrency)


class DownloadService(QObject):
    """Owns the `DownloadManager` (created lazily) and re-emits its updates on the GUI thread."""

    sig_snapshot = Signal(object)
    """JobSnapshot: a job changed (GUI thread)."""
    sig_folder_changed = Signal(object)
    """Path: downloads now go to this folder (the settings changed it)."""
    _raw = Signal(int, object)
    """generation, JobSnapshot: from a manager's threads; stale generations are dropped."""

    def __init__(
        self, context: AppContext, parent: QObject | None = None, **manager_options: Any
    ) -> None:
        super().__init__(parent)
        self._context = context
        self._options = manager_options
        self._manager: DownloadManager | None = None
        self._config: QueueConfig | None = None  # what the running manager was built with
        self._generation = 0  # which manager the queued reports come from
        self._rebuild_when_idle = False
        self._snapshots: dict[str, JobSnapshot] = {}
        self._closed = False
        self._raw.connect(self._on_report)
        context.settings.changed.connect(self._on_settings_changed)
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
            config = QueueConfig.of(self._context.settings)
            self._generation += 1
            generation = self._generation
            self._manager = DownloadManager(
                config.models_dir,
                endpoint=config.endpoint,
                concurrency=config.concurrency,
                on_update=lambda snapshot: self._raw.emit(generation, snapshot),
                **self._options,
            )
            self._config = config
            for snapshot in self._manager.jobs():  # partials a previous run left
                self._on_snapshot(snapshot)
            for message in self._manager.skipped:  # damaged resume files: the page still opens
                report_error(message, level="warning")
        return self._manager

    @property
    def models_dir(self) -> Path:
        """Where downloads go now (the running queue's folder until it is rebuilt)."""
        if self._config is not None:
            return self._config.models_dir
        return self._context.settings.models_dir()

    def add_model(self, model: RemoteModel) -> list[JobSnapshot]:
        """Queue every part of `model`; raises `UnsafeName` for a name that is not safe and
        `IncompleteSplit` when the hub lists only some parts of a split model."""
        parts = model.files_to_download()
        return [self.manager.add(model.repo_id, part.filename) for part in parts]

    def control(self, action: str, job_id: str) -> None:
        """'pause', 'resume', 'cancel' or 'retry' a job; raises KeyError for an unknown job.

        A job that finished under an earlier queue (before a settings change rebuilt it)
        is retried by adding its file again.
        """
        manager = self.manager
        known = {s.job_id for s in manager.jobs()}
        snapshot = self._snapshots.get(job_id)
        if action == "retry" and snapshot is not None and job_id not in known:
            manager.add(snapshot.repo_id, snapshot.filename)
            return
        calls = {
            "pause": manager.pause,
            "resume": manager.resume,
            "cancel": manager.cancel,
            "retry": manager.retry,
        }
        calls[action](job_id)

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

    # -- settings (GUI thread) ------------------------------------------------------------
    @Slot(object)
    def _on_settings_changed(self, _settings: object) -> None:
        if self._manager is None or self._config is None:
            return  # the next manager is built from the new settings anyway
        wanted = QueueConfig.of(self._context.settings)
        if wanted == self._config:
            self._rebuild_when_idle = False
            return
        moving_folder = wanted.models_dir != self._config.models_dir
        if moving_folder and summary(self._snapshots.values())[0]:
            self._rebuild_when_idle = True  # the running downloads' partials are in the old one
            return
        self._rebuild()

    def _rebuild(self) -> None:
        """Stop the manager (partials kept), then start one with the current settings."""
        self._rebuild_when_idle = False
        old, self._manager, self._config = self._manager, None, None
        if old is not None:
            started = time.monotonic()
            old.close(timeout=10.0)
            _log.info("download queue stopped in %.3f s", time.monotonic() - started)
        if not self._closed:
            self.manager  # noqa: B018  # resumes what the old one stopped
            self.sig_folder_changed.emit(self.models_dir)

    # -- updates (GUI thread) -------------------------------------------------------------
    @Slot(int, object)
    def _on_report(self, generation: int, snapshot: JobSnapshot) -> None:
        if generation == self._generation:  # else a stopped manager's last words
            self._on_snapshot(snapshot)

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
        if self._rebuild_when_idle and not active:
            self._rebuild()


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
