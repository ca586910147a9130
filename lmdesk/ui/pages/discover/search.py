"""Searching as you type: debounced, one search at a time, stale answers dropped.

Each change restarts a ~300 ms timer; when it fires the running search is cancelled
(it stops at its next result, and whatever it still reports is ignored) and a new one
starts on a worker thread. `fetch_more()` asks for the next page of the same query.
Against an unreachable hub a search takes ~20 s to fail (huggingface_hub retries): the
page shows `busy` meanwhile and stays responsive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from lmdesk.core.hub import RepoSummary, SortKey
from lmdesk.ui.pages.discover.results_model import ResultsModel
from lmdesk.ui.services.background import BackgroundTask, Progress
from lmdesk.ui.services.task_group import TaskGroup

DEBOUNCE_MS = 300
PAGE_SIZE = 30


@dataclass(frozen=True)
class Query:
    text: str = ""
    author: str = ""
    sort: SortKey = "downloads"


def search_page(
    query: Query, *, offset: int, limit: int, endpoint: str, progress: Progress
) -> list[RepoSummary]:
    """Results `offset .. offset+limit` of `query`; `progress` between results (cancel point)."""
    from lmdesk.core.hub import iter_models

    found: list[RepoSummary] = []
    results = iter_models(
        query.text.strip(),
        author=query.author.strip() or None,
        sort=query.sort,
        endpoint=endpoint,
        limit=offset + limit,
    )
    for i, summary in enumerate(results):
        progress("search", i + 1, offset + limit)
        if i >= offset:
            found.append(summary)
        if i + 1 >= offset + limit:
            break
    return found


class SearchController(QObject):
    """Runs searches for the Discover page and fills `model`."""

    busy_changed = Signal(bool)
    failed = Signal(str)
    """A person-readable message: the hub could not be searched."""
    finished = Signal(int)
    """Rows added by the page that just arrived."""

    def __init__(
        self,
        model: ResultsModel,
        endpoint: Callable[[], str],
        *,
        page_size: int = PAGE_SIZE,
        debounce_ms: int = DEBOUNCE_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self._endpoint = endpoint
        self.page_size = page_size
        self.query = Query()
        self.task: BackgroundTask | None = None
        self.exhausted = False
        self._generation = 0
        self._tasks = TaskGroup(self)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self.search_now)

    @property
    def busy(self) -> bool:
        return self.task is not None

    def set_query(self, query: Query) -> None:
        """A new query: search it once the person pauses typing."""
        if query == self.query and (self.busy or self.model.rowCount() or self._timer.isActive()):
            return
        self.query = query
        self._timer.start()

    def search_now(self) -> None:
        """Cancel what is running and search the current query from its first result."""
        self._timer.stop()
        self._tasks.cancel(self.task)
        self.task = None
        self._generation += 1
        self.exhausted = False
        self.model.clear()
        self._fetch(0)

    def fetch_more(self) -> bool:
        """Ask for the next page; False when one is on its way or there is no more."""
        if self.busy or self.exhausted or self._timer.isActive():
            return False
        self._fetch(self.model.rowCount())
        return True

    def cancel(self) -> None:
        self._timer.stop()
        self._tasks.cancel_all()
        self._set_task(None)

    def wait(self, timeout_s: float = 10.0) -> bool:
        return self._tasks.wait_all(timeout_s)

    def _fetch(self, offset: int) -> None:
        query, generation, endpoint = self.query, self._generation, self._endpoint()
        limit = self.page_size

        def work(progress: Progress) -> list[RepoSummary]:
            return search_page(
                query, offset=offset, limit=limit, endpoint=endpoint, progress=progress
            )

        def done(results: list[RepoSummary]) -> None:
            if generation != self._generation:
                return
            self._set_task(None)
            self.exhausted = len(results) < limit
            before = self.model.rowCount()
            self.model.append(results)
            self.finished.emit(self.model.rowCount() - before)

        def failed(message: str, _details: str) -> None:
            if generation != self._generation:
                return
            self._set_task(None)
            self.exhausted = True
            self.failed.emit(message)

        self._set_task(self._tasks.start(work, name="hub-search", done=done, failed=failed))

    def _set_task(self, task: BackgroundTask | None) -> None:
        was_busy = self.busy
        self.task = task
        if was_busy != self.busy:
            self.busy_changed.emit(self.busy)
