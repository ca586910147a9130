"""One repository: its GGUF models with a verdict for the chosen GPU, and its model card.

Opening a repository lists its files (one request), then reads each model's header in
the background to replace the size-based verdicts with exact ones, and fetches the
model card. Opening another repository cancels what is still running for this one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextBlockFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core.estimate import FitInputs
from lmdesk.core.estimate.projector import ProjectorInfo
from lmdesk.core.gguf import ModelInfo
from lmdesk.core.hub import RemoteModel, RepoSummary
from lmdesk.core.hub.endpoint import hub_endpoint
from lmdesk.core.hub.rate_limit import waiting_words
from lmdesk.ui.kit.tables import ColumnsThatYield, style_table
from lmdesk.ui.kit.widgets import heading, muted
from lmdesk.ui.pages.discover.download_buttons import DownloadButtons
from lmdesk.ui.pages.discover.files_model import FIT, NAME, FilesModel
from lmdesk.ui.pages.discover.headers import HeaderFetcher
from lmdesk.ui.pages.discover.notice import Notice
from lmdesk.ui.pages.discover.results_delegate import meta_line
from lmdesk.ui.pages.discover.search import RATE_LIMITED
from lmdesk.ui.services.background import BackgroundTask, Progress
from lmdesk.ui.services.context import AppContext
from lmdesk.ui.services.downloads import DownloadService
from lmdesk.ui.services.task_group import TaskGroup

ROW_HEIGHT = 42
LOGIN_HINT = "Log in with a Hugging Face token in Settings (the gear at the bottom left)."
_FRONT_MATTER = re.compile(r"\A---\s*\n.*?\n---\s*\n", re.DOTALL)


def card_markdown(text: str) -> str:
    """The model card without its YAML front matter (license, tags: shown elsewhere)."""
    return _FRONT_MATTER.sub("", text, count=1).strip()


def space_headings(document: QTextDocument) -> None:
    """Markdown headings get air above them (QTextDocument gives them none)."""
    cursor = QTextCursor(document)
    block = document.begin()
    while block.isValid():
        if block.blockFormat().headingLevel() > 0 and block != document.begin():
            spaced = QTextBlockFormat()
            spaced.setTopMargin(14)
            spaced.setBottomMargin(4)
            cursor.setPosition(block.position())
            cursor.mergeBlockFormat(spaced)
        block = block.next()


def _told(progress: Progress) -> Callable[[int], None]:
    """A 429's countdown, as the task's progress (which also stops the wait on cancel)."""
    return lambda seconds: progress(RATE_LIMITED, seconds, 0)


MIN_NAME_WIDTH = 150
"""Narrower than this, the file name column is hidden (the quant says which file it is, and
its tooltip names the file): a squeezed name would push the buttons out of sight."""
FIT_WIDTH = 200
"""Room kept for a verdict such as "Partial: 30 of 33 layers"."""


class RepoView(QWidget):
    def __init__(
        self,
        context: AppContext,
        service: DownloadService,
        inputs: Callable[[], FitInputs],
        *,
        header_cache: Path,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._context, self._inputs = context, inputs
        self.repo: RepoSummary | None = None
        self._tasks = TaskGroup(self)
        self._files_task: BackgroundTask | None = None
        self._card_task: BackgroundTask | None = None
        self.headers = HeaderFetcher(self._endpoint(), header_cache, self)
        self.files = FilesModel(self)
        self.title = heading("", scale=1.35)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.meta = muted("", wrap=False)
        self.meta.setTextFormat(Qt.TextFormat.RichText)
        self.meta.setOpenExternalLinks(True)
        self.notice = Notice()
        self.status = muted("")
        self.table = self._make_table()
        self.buttons = DownloadButtons(self.table, self.files, service, context)
        self.card = QTextBrowser()
        self.card.setOpenExternalLinks(True)
        self.card.setObjectName("modelCard")
        self.card.setStyleSheet(
            "#modelCard { background: palette(base); border: 1px solid palette(midlight);"
            " border-radius: 10px; padding: 10px 14px; }"
        )
        self.empty = muted("Pick a repository to see its GGUF files and whether they fit your GPU.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.split = split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.card)
        split.setChildrenCollapsible(False)
        split.setSizes([260, 340])
        self.body = QWidget()
        column = QVBoxLayout(self.body)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(8)
        for widget in (self.title, self.meta, self.notice, self.status):
            column.addWidget(widget)
        column.addWidget(split, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.body, 1)
        self.body.hide()
        self.headers.header_ready.connect(self._on_header)
        self.headers.header_failed.connect(self._on_header_failed)
        self.headers.header_failed.connect(lambda *_: self._update_status())
        self.headers.not_a_model.connect(self.files.set_kind)
        self.headers.projector_ready.connect(self._on_projector)
        self.headers.not_a_model.connect(lambda *_: self._update_status())
        self.headers.gated.connect(self._on_gated)
        self.headers.idle.connect(self._update_status)
        self.headers.rate_limited.connect(self._on_rate_limited)

    def _make_table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.files)
        style_table(table, row_height=ROW_HEIGHT)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a narrow name keeps its quant
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        self._yield = ColumnsThatYield(
            table, [NAME], stretch=NAME, min_stretch=MIN_NAME_WIDTH, budget={FIT: FIT_WIDTH}
        )
        return table

    def _endpoint(self) -> str:
        return hub_endpoint(self._context.settings.settings.hf_endpoint)

    # -- public --------------------------------------------------------------------------
    def open(self, summary: RepoSummary) -> None:
        """Show `summary`'s repository; what was running for the previous one is cancelled."""
        self.cancel()
        self.repo = summary
        self.headers.endpoint = self._endpoint()
        self.title.setText(summary.repo_id)
        url = f"{self._endpoint().rstrip('/')}/{summary.repo_id}"
        self.meta.setText(
            f'{escape(meta_line(summary))}  ·  <a href="{url}">Open on Hugging Face</a>'
        )
        self.notice.clear()
        self.files.clear()
        self.card.setMarkdown("")
        self.status.setText("Listing the repository's files…")
        self.empty.hide()
        self.body.show()
        endpoint, repo_id = self._endpoint(), summary.repo_id

        def list_files(progress: Progress) -> list[RemoteModel]:
            from lmdesk.core.hub import list_gguf_models

            return list_gguf_models(repo_id, endpoint=endpoint, on_rate_limit=_told(progress))

        def card(progress: Progress) -> str:
            from lmdesk.core.hub import model_card

            return model_card(repo_id, endpoint=endpoint, on_rate_limit=_told(progress))

        self._files_task = self._tasks.start(
            list_files, name="hub-files", done=self._on_files, failed=self._on_failed
        )
        self._files_task.sig_progress.connect(self._files_waiting)
        self._card_task = self._tasks.start(
            card, name="hub-card", done=self._on_card, failed=self._on_card_failed
        )
        self._card_task.sig_progress.connect(self._card_waiting)

    def cancel(self) -> None:
        self._tasks.cancel_all()
        self.headers.cancel()

    def wait(self, timeout_s: float = 10.0) -> bool:
        return self._tasks.wait_all(timeout_s) and self.headers.wait(timeout_s)

    def refresh_verdicts(self) -> None:
        self.files.refresh_verdicts(self._inputs())
        self._update_status()

    def _fit_table(self) -> None:
        """Give the file table the height of its rows (at most 60%); the card gets the rest."""
        rows = self.files.rowCount()
        wanted = self.table.horizontalHeader().height() + rows * ROW_HEIGHT + 8
        total = sum(self.split.sizes())
        table = min(wanted, int(total * 0.6)) if total > 0 else wanted
        self.split.setSizes([table, max(total - table, 0)])

    # -- results -------------------------------------------------------------------------
    def _on_files(self, models: list[RemoteModel]) -> None:
        self.files.set_models(models, self._inputs())
        self._fit_table()
        if not models:
            self.status.setText("This repository has no GGUF files.")
            return
        wanted = [m for m in models if m.kind == "model" and m.complete]
        projector = self.files.projector  # first: every model's verdict counts it
        self.headers.fetch([projector, *wanted] if projector is not None and wanted else wanted)
        self._update_status()

    def _on_failed(self, message: str, _details: str) -> None:
        self.status.setText("")
        self.notice.show_message(message, level="error")

    def _on_header(self, name: str, info: ModelInfo) -> None:
        self.files.set_header(name, info, self._inputs())
        self._update_status()

    def _on_header_failed(self, name: str, message: str) -> None:
        self.files.set_header_error(name, message)
        if self.files.projector is not None and self.files.projector.name == name:
            self.files.refresh_verdicts(self._inputs())

    def _on_projector(self, name: str, info: ProjectorInfo) -> None:
        self.files.set_projector(name, info, self._inputs())

    def _on_rate_limited(self, seconds: int) -> None:
        self.status.setText(f"{waiting_words(seconds)}.")

    def _files_waiting(self, stage: str, seconds: int, _total: int) -> None:
        """The file list waits out a 429: the countdown instead of "Listing…"."""
        if stage == RATE_LIMITED and self.sender() is self._files_task:  # not a previous repo's
            self._on_rate_limited(seconds)

    def _card_waiting(self, stage: str, seconds: int, _total: int) -> None:
        if stage == RATE_LIMITED and self.sender() is self._card_task:
            self.card.setMarkdown(f"*Model card: {waiting_words(seconds)}.*")

    def _on_gated(self, message: str) -> None:
        self.notice.show_message(f"{message}\n{LOGIN_HINT}", level="warning")

    def _on_card(self, text: str) -> None:
        body = card_markdown(text)
        self.card.setMarkdown(body or "*This repository has no model card.*")
        space_headings(self.card.document())

    def _on_card_failed(self, message: str, _details: str) -> None:
        self.card.setMarkdown(f"*The model card could not be read: {message}*")

    def _update_status(self) -> None:
        rows = [r for r in self.files.rows() if r.judged]
        if not rows:
            return
        target = self._inputs()
        card = target.gpu.name if target.gpu else "the CPU alone"
        ctx = f"{target.defaults.n_ctx:,}"
        pending = self.headers.pending()
        if pending:
            self.status.setText(
                f"Reading model headers from the hub… {max(len(rows) - pending, 0)} of "
                f"{len(rows)}. "
                f"Until then, verdicts are estimated from the file size."
            )
        else:
            self.status.setText(f"Verdicts for {card}, with up to {ctx} tokens of context.")
