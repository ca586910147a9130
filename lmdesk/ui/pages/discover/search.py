"""Searching as you type: debounced, one search at a time, stale answers dropped.

Each change restarts a ~300 ms timer; when it fires the running search is cancelled
(it stops at its next result, and whatever it still reports is ignored) and a new one
starts on a worker thread. `fetch_more()` asks for the next page of the same query,
through the hub's cursor (the ``Link`` of the last page), never from the first page again.
A rate-limited search waits as long as the hub asks and says so (`rate_limited`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from lmdesk.core.hub import SearchPage, SortKey
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


RATE_LIMITED = "rate-limited"  # the progress stage of a 429 being waited out


def fetch_page(
    query: Query, *, next_url: str | None, limit: int, endpoint: str, progress: Progress
) -> SearchPage:
    """The first page of `query`, or the one `next_url` names; a 429 countdown as progress."""
    from lmdesk.core.hub import search_page

    page = search_page(
        query.text.strip(),
        author=query.author.strip() or None,
        sort=query.sort,
        limit=limit,
        endpoint=endpoint,
        next_url=next_url,
        on_rate_limit=lambda seconds: progress(RATE_LIMITED, seconds, 0),
    )
    progress("search", len(page.results), limit)  # a cancel point: a stale page stops here
    return page


class SearchController(QObject):
    """Runs searches for the Discover page and fills `model`."""

    busy_changed = Signal(bool)
    failed = Signal(str)
    """A person-readable message: the hub could not be searched."""
    finished = Signal(int)
    """Rows added by the page that just arrived."""
    rate_limited = Signal(int)
    """Seconds before the search is tried again: Hugging Face is rate-limiting us."""

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
        self._next_url: str | None = None
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
        self._next_url = None
        self.model.clear()
        self._fetch(None)

    def fetch_more(self) -> bool:
        """Ask for the next page; False when one is on its way or there is no more."""
        if self.busy or self.exhausted or self._timer.isActive():
            return False
        self._fetch(self._next_url)
        return True

    def cancel(self) -> None:
        self._timer.stop()
        self._tasks.cancel_all()
        self._set_task(None)

    def wait(self, timeout_s: float = 10.0) -> bool:
        return self._tasks.wait_all(timeout_s)

    def _fetch(self, next_url: str | None) -> None:
        query, generation, endpoint = self.query, self._generation, self._endpoint()
        limit = self.page_size

        def work(progress: Progress) -> SearchPage:
            return fetch_page(
                query, next_url=next_url, limit=limit, endpoint=endpoint, progress=progress
            )

        def done(page: SearchPage) -> None:
            if generation != self._generation:
                return
            self._set_task(None)
            self._next_url = page.next_url
            self.exhausted = page.next_url is None
            before = self.model.rowCount()
            self.model.append(page.results)
            self.finished.emit(self.model.rowCount() - before)

        def failed(message: str, _details: str) -> None:
            if generation != self._generation:
                return
            self._set_task(None)
            self.exhausted = True
            self.failed.emit(message)

        def progress(stage: str, seconds: int, _total: int) -> None:
            if stage == RATE_LIMITED and generation == self._generation:
                self.rate_limited.emit(seconds)

        task = self._tasks.start(work, name="hub-search", done=done, failed=failed)
        task.sig_progress.connect(progress)
        self._set_task(task)

    def _set_task(self, task: BackgroundTask | None) -> None:
        was_busy = self.busy
        self.task = task
        if was_busy != self.busy:
            self.busy_changed.emit(self.busy)
