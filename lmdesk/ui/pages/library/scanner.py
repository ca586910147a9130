"""Scanning the disk for models, and judging them, off the GUI thread.

A scan walks lmdesk's folder, the added folders, LM Studio's and the Hugging Face
cache; headers come from the `DescribeCache`, so a rescan only parses files that are
new or changed. Rescans asked for while one runs are merged into one more scan after
it. Verdicts are judged in the same task, and again (alone) when the GPU changes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from lmdesk.core.estimate import FitInputs, FitWords
from lmdesk.core.estimate.projector import ProjectorInfo, projector_or_none
from lmdesk.core.library import LibraryEntry
from lmdesk.core.load_plan import projector_for
from lmdesk.ui.services.background import BackgroundTask, Progress
from lmdesk.ui.services.context import AppContext
from lmdesk.ui.services.task_group import TaskGroup

ScanResult = tuple[list[LibraryEntry], dict[Path, FitWords], FitInputs, str | None]
"""The models found, their verdicts, the inputs judged against, the models folder's problem."""


def paired_projector(entry: LibraryEntry) -> ProjectorInfo | None:
    """The vision projector the load rule pairs with the entry's model (None: none)."""
    if entry.model is None:
        return None
    return projector_or_none(projector_for(entry.path, entry.model))


def judge_all(entries: list[LibraryEntry], inputs: FitInputs) -> dict[Path, FitWords]:
    """The verdict of every usable entry, with its projector (a few milliseconds each)."""
    return {
        e.path: inputs.words(e.model, paired_projector(e))
        for e in entries
        if e.is_ok and e.model is not None
    }


class LibraryScanner(QObject):
    scanned = Signal(object, object)
    """list[LibraryEntry], dict[Path, FitWords]: a scan finished."""
    judged = Signal(object)
    """dict[Path, FitWords]: verdicts for the current GPU."""
    failed = Signal(str)
    busy_changed = Signal(bool)
    folder_problem = Signal(object)
    """str | None: why lmdesk's models folder cannot be used (naming it), before `scanned`."""

    def __init__(
        self,
        context: AppContext,
        inputs: Callable[[], FitInputs],
        *,
        cache_dir: Path,
        scan_options: dict[str, Any] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._context, self._inputs = context, inputs
        self._cache_dir = cache_dir
        self._options = dict(scan_options or {})
        self._tasks = TaskGroup(self)
        self._scan: BackgroundTask | None = None
        self._judge: BackgroundTask | None = None
        self._again = False
        self._entries: list[LibraryEntry] = []
        self.scans = 0

    @property
    def busy(self) -> bool:
        return self._scan is not None

    def rescan(self) -> None:
        """Scan again now, or right after the scan that is running."""
        if self._scan is not None:
            self._again = True
            return
        store = self._context.settings
        models_dir = store.models_dir()
        extra = [Path(p).expanduser() for p in store.settings.extra_model_dirs]
        inputs, options, cache_dir = self._inputs(), self._options, self._cache_dir

        def work(_progress: Progress) -> ScanResult:
            from lmdesk.core.library import DescribeCache, scan_library
            from lmdesk.core.paths import folder_problem

            problem = folder_problem(models_dir)  # else an unreadable folder reads as empty
            cache = DescribeCache(cache_dir)
            entries = scan_library(models_dir=models_dir, cache=cache, extra_dirs=extra, **options)
            return entries, judge_all(entries, inputs), inputs, problem

        self._scan = self._tasks.start(
            work, name="library-scan", done=self._done, failed=self._failed
        )
        self.busy_changed.emit(True)

    def rejudge(self) -> None:
        """The GPU or the settings changed: judge the listed models again."""
        self._tasks.cancel(self._judge)
        entries, inputs = list(self._entries), self._inputs()

        def work(_progress: Progress) -> dict[Path, FitWords]:
            return judge_all(entries, inputs)

        def done(words: dict[Path, FitWords]) -> None:
            self._judge = None
            self.judged.emit(words)

        self._judge = self._tasks.start(work, name="library-verdicts", done=done)

    def cancel(self) -> None:
        self._tasks.cancel_all()
        self._scan = self._judge = None
        self._again = False

    def wait(self, timeout_s: float = 10.0) -> bool:
        return self._tasks.wait_all(timeout_s)

    def _done(self, result: ScanResult) -> None:
        entries, words, inputs, problem = result
        self._scan = None
        self.scans += 1
        self._entries = entries
        self.folder_problem.emit(problem)
        self.scanned.emit(entries, words)
        if inputs != self._inputs():
            self.rejudge()
        self._finish()

    def _failed(self, message: str, _details: str) -> None:
        self._scan = None
        self.failed.emit(message)
        self._finish()

    def _finish(self) -> None:
        if self._again:
            self._again = False
            self.rescan()
        else:
            self.busy_changed.emit(False)
