"""Discover: search Hugging Face for GGUF models and see, before downloading, what fits.

The search row (query, author, sort, target GPU) drives a `SearchController`; the
results list is a `ResultsModel` drawn by `ResultDelegate`, paged as it scrolls; the
selected repository opens in a `RepoView` beside it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core import paths
from lmdesk.core.counted import counted
from lmdesk.core.hub.endpoint import hub_endpoint
from lmdesk.core.hub.rate_limit import waiting_words
from lmdesk.ui.kit.fit_target import FitTarget
from lmdesk.ui.kit.widgets import heading, muted, secondary_button
from lmdesk.ui.pages.discover.repo_view import RepoView
from lmdesk.ui.pages.discover.results_delegate import ResultDelegate
from lmdesk.ui.pages.discover.results_model import ResultsModel
from lmdesk.ui.pages.discover.search import DEBOUNCE_MS, PAGE_SIZE, Query, SearchController
from lmdesk.ui.services.context import AppContext
from lmdesk.ui.services.downloads import DownloadService, download_service

SORTS = (
    ("Most downloaded", "downloads"),
    ("Most liked", "likes"),
    ("Trending", "trending_score"),
    ("Recently updated", "last_modified"),
)


class DiscoverPage(QWidget):
    def __init__(
        self,
        context: AppContext,
        *,
        service: DownloadService | None = None,
        header_cache: Path | None = None,
        page_size: int = PAGE_SIZE,
        debounce_ms: int = DEBOUNCE_MS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("discoverPage")
        self._context = context
        self.results = ResultsModel(self)
        self.search = SearchController(
            self.results,
            lambda: hub_endpoint(context.settings.settings.hf_endpoint),
            page_size=page_size,
            debounce_ms=debounce_ms,
            parent=self,
        )
        self.target = FitTarget(context)
        self.target.setMinimumWidth(290)
        self.query_box = QLineEdit()
        self.query_box.setPlaceholderText(
            "Search GGUF models on Hugging Face, e.g. qwen 7b instruct"
        )
        self.query_box.setClearButtonEnabled(True)
        self.author_box = QLineEdit()
        self.author_box.setPlaceholderText("Author, e.g. bartowski")
        self.author_box.setClearButtonEnabled(True)
        self.author_box.setMaximumWidth(200)
        self.sort_combo = QComboBox()
        for label, key in SORTS:
            self.sort_combo.addItem(label, key)
        self.spinner = QProgressBar()
        self.spinner.setRange(0, 0)
        self.spinner.setTextVisible(False)
        self.spinner.setFixedHeight(3)
        self.spinner.setStyleSheet(
            "QProgressBar { border: none; background: transparent; }"
            "QProgressBar::chunk { background: #3b82f6; }"
        )
        self.spinner.hide()
        self.list = QListView()
        self.list.setModel(self.results)
        self.list.setItemDelegate(ResultDelegate(self.list))
        self.list.setMouseTracking(True)
        self.list.setObjectName("results")
        self.list.setStyleSheet(
            "#results { background: palette(base); border: 1px solid palette(midlight);"
            " border-radius: 10px; padding: 4px; }"
        )
        self.list.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.list_status = muted("", wrap=True)
        self.more_button = secondary_button("More results")
        self.more_button.hide()
        self.repo_view = RepoView(
            context,
            service or download_service(context),
            self.target.inputs,
            header_cache=header_cache or paths.cache_dir() / "remote-headers",
        )
        self._layout()
        self._connect()
        self.search.set_query(Query())  # popular GGUF repositories to start with

    def _layout(self) -> None:
        search_row = QHBoxLayout()
        search_row.setSpacing(8)
        search_row.addWidget(self.query_box, 3)
        search_row.addWidget(self.author_box, 1)
        search_row.addWidget(self.sort_combo)
        search_row.addSpacing(12)
        search_row.addWidget(self.target, 1)
        left = QWidget()
        left_column = QVBoxLayout(left)
        left_column.setContentsMargins(0, 0, 0, 0)
        left_column.setSpacing(6)
        left_column.addWidget(self.list, 1)
        footer = QHBoxLayout()
        footer.addWidget(self.list_status, 1)
        footer.addWidget(self.more_button)
        left_column.addLayout(footer)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.repo_view)
        split.setChildrenCollapsible(False)
        split.setStretchFactor(1, 1)
        split.setSizes([300, 760])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 22, 28, 16)
        layout.setSpacing(10)
        layout.addWidget(heading("Discover", scale=1.6))
        layout.addWidget(
            muted("Find GGUF models on Hugging Face and see whether they fit before you download.")
        )
        layout.addLayout(search_row)
        layout.addWidget(self.spinner)
        layout.addWidget(split, 1)

    def _connect(self) -> None:
        self.query_box.textChanged.connect(self._query_changed)
        self.author_box.textChanged.connect(self._query_changed)
        self.sort_combo.currentIndexChanged.connect(self._query_changed)
        self.query_box.returnPressed.connect(self.search.search_now)
        self.search.busy_changed.connect(self._on_busy)
        self.search.finished.connect(self._on_results)
        self.search.failed.connect(self._on_failed)
        self.search.rate_limited.connect(self._on_rate_limited)
        self.more_button.clicked.connect(self.search.fetch_more)
        self.list.verticalScrollBar().valueChanged.connect(self._maybe_more)
        self.list.selectionModel().selectionChanged.connect(self._on_selected)
        self.target.changed.connect(self.repo_view.refresh_verdicts)

    # -- search --------------------------------------------------------------------------
    def current_query(self) -> Query:
        return Query(self.query_box.text(), self.author_box.text(), self.sort_combo.currentData())

    def _query_changed(self) -> None:
        self.search.set_query(self.current_query())

    def _on_busy(self, busy: bool) -> None:
        self.spinner.setVisible(busy)
        if busy and self.results.rowCount() == 0:
            self.list_status.setText("Searching Hugging Face…")
            self.list_status.setStyleSheet("color: palette(placeholder-text);")
        self.more_button.setEnabled(not busy)

    def _on_results(self, _added: int) -> None:
        count, exhausted = self.results.rowCount(), self.search.exhausted
        self.list_status.setStyleSheet("color: palette(placeholder-text);")
        if count == 0:
            text = self.query_box.text().strip()
            self.list_status.setText(
                f"No GGUF repositories match “{text}”." if text else "No GGUF repositories found."
            )
        else:
            found = counted(count, "repository", "repositories")
            self.list_status.setText(found if exhausted else f"{count}+ repositories")
        self.more_button.setVisible(not exhausted)

    def _on_rate_limited(self, seconds: int) -> None:
        self.list_status.setStyleSheet("color: #b45309;")
        self.list_status.setText(waiting_words(seconds))

    def _on_failed(self, message: str) -> None:
        self.list_status.setStyleSheet("color: #b91c1c;")
        self.list_status.setText(f"{message} Press Enter in the search box to try again.")
        self.more_button.hide()

    def _maybe_more(self, value: int) -> None:
        bar = self.list.verticalScrollBar()
        if bar.maximum() > 0 and value >= bar.maximum() - 40:
            self.search.fetch_more()

    def _on_selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if indexes:
            self.repo_view.open(self.results.summary(indexes[0].row()))

    # -- lifecycle -----------------------------------------------------------------------
    def shutdown(self) -> None:
        self.search.cancel()
        self.repo_view.cancel()

    def wait(self, timeout_s: float = 10.0) -> bool:
        return self.search.wait(timeout_s) and self.repo_view.wait(timeout_s)
