"""Finding models for the picker and reading a chosen model's header, off the GUI thread.

All of it reads files (a folder walk, a GGUF header) or asks a server (a remote server's
``/v1/models``), so each runs as a `BackgroundTask`; the results arrive on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject

from lmdesk.core import paths
from lmdesk.core.gguf import ModelInfo
from lmdesk.core.remote_engines import RemoteServer
from lmdesk.ui.pages.chat.model_bar import menu_label
from lmdesk.ui.services.background import BackgroundTask, Progress
from lmdesk.ui.services.context import SettingsStore


class ModelChoice(QObject):
    """Runs the scans and header reads; keeps a reference to every running task."""

    def __init__(self, settings: SettingsStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._tasks: list[BackgroundTask] = []
        self.stale = True

    def scan(self, done: Callable[[list[tuple[str, str]]], None]) -> None:
        """(label, path) of every readable model on disk, lmdesk's own first."""
        if any(t.objectName() == "scan" and t.running for t in self._tasks):
            return
        dirs = self._settings.model_dirs()

        def work(_progress: Progress) -> list[tuple[str, str]]:
            from lmdesk.core.library import DescribeCache, scan_library

            entries = scan_library(
                models_dir=dirs[0],
                cache=DescribeCache(paths.cache_dir() / "headers"),
                extra_dirs=dirs[1:],
            )
            return [(menu_label(e.path, e.size), str(e.path)) for e in entries if e.is_ok]

        def finished(result: object) -> None:
            self.stale = False
            done(result)  # type: ignore[arg-type]

        self._run("scan", work, finished)

    def read(
        self, path: str, done: Callable[[ModelInfo], None], failed: Callable[[str], None]
    ) -> None:
        def work(_progress: Progress) -> ModelInfo:
            from lmdesk.core.gguf import read_model

            return read_model(Path(path))

        self._run("read", work, done, failed)  # type: ignore[arg-type]

    def list_remote(
        self,
        server: RemoteServer,
        done: Callable[[list[str]], None],
        failed: Callable[[str], None],
    ) -> None:
        """The model ids ``server`` lists, or why it cannot (one sentence)."""

        def work(_progress: Progress) -> list[str] | str:
            from lmdesk.core.engine.errors import EngineError
            from lmdesk.core.remote_engines.listing import list_models

            try:
                return list_models(server)
            except EngineError as exc:  # its sentence, without the type's name
                return str(exc)

        def finished(result: object) -> None:
            if isinstance(result, str):
                failed(result)
            else:
                done(result)  # type: ignore[arg-type]

        self._run(f"remote {server.name}", work, finished, failed)

    def listing(self, server_name: str) -> bool:
        """Whether that server is being asked already."""
        return any(t.objectName() == f"remote {server_name}" and t.running for t in self._tasks)

    def _run(
        self,
        name: str,
        work: Callable[[Progress], object],
        done: Callable[[object], None],
        failed: Callable[[str], None] | None = None,
    ) -> None:
        task = BackgroundTask(work, name=f"chat-{name}", parent=self)
        task.setObjectName(name)
        task.sig_done.connect(done)
        if failed is not None:
            task.sig_failed.connect(lambda message, _details: failed(message))
        task.sig_finished.connect(lambda: self._tasks.remove(task) if task in self._tasks else None)
        self._tasks.append(task)
        task.start()

    def wait(self, timeout_s: float = 5.0) -> None:
        for task in list(self._tasks):
            task.cancel()
            task.wait(timeout_s)
