"""The left column: search, the conversations (newest first), New chat.

`ConversationListModel` is a plain list model over the store's search hits;
the store does the searching (titles and message text, in SQLite), so the
model only holds what is shown. Rename with F2 or a double-click; Delete asks
first (a non-modal box: `open()`, never `exec()`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core.chats import ChatStore, SearchHit
from lmdesk.ui.kit.widgets import primary_button
from lmdesk.ui.pages.chat.export_actions import ExportActions
from lmdesk.ui.pages.chat.formatting import conversation_subtitle

Index = QModelIndex | QPersistentModelIndex
ID_ROLE = Qt.ItemDataRole.UserRole + 1
SUBTITLE_ROLE = Qt.ItemDataRole.UserRole + 2
SEARCH_DEBOUNCE_MS = 150


class ConversationListModel(QAbstractListModel):
    """Rows: conversations matching the search; edits rename through ``rename``."""

    renamed = Signal(int, str)
    """conversation id, new title (the model asks; the session renames)."""

    def __init__(self, store: ChatStore, parent: Any = None) -> None:
        super().__init__(parent)
        self._store = store
        self._query = ""
        self._hits: list[SearchHit] = []

    @property
    def query(self) -> str:
        return self._query

    def use_store(self, store: ChatStore) -> None:
        self._store = store
        self.refresh()

    def refresh(self, query: str | None = None) -> None:
        if query is not None:
            self._query = query
        self.beginResetModel()
        self._hits = self._store.search(self._query)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._hits)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._hits):
            return None
        hit = self._hits[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return hit.conversation.title
        if role == ID_ROLE:
            return hit.conversation.id
        if role == SUBTITLE_ROLE:
            return hit.snippet or conversation_subtitle(hit.conversation)
        if role == Qt.ItemDataRole.ToolTipRole:
            return hit.snippet or hit.conversation.title
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEditable

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or role != Qt.ItemDataRole.EditRole:
            return False
        title = str(value).strip()
        if not title:
            return False
        self.renamed.emit(self._hits[index.row()].conversation.id, title)
        return True

    def row_of(self, conversation_id: int | None) -> int:
        return next(
            (i for i, h in enumerate(self._hits) if h.conversation.id == conversation_id), -1
        )


class _TwoLineDelegate(QStyledItemDelegate):
    """Title over a muted subtitle (date · model, or the search excerpt)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        height = option.fontMetrics.lineSpacing() * 2 + 18
        return QSize(0, height)  # as wide as the list: titles are elided, never scrolled

    def paint(self, painter: Any, option: QStyleOptionViewItem, index: Index) -> None:
        from PySide6.QtGui import QColor
        from PySide6.QtWidgets import QStyle

        painter.save()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        rect = option.rect.adjusted(4, 2, -4, -2)
        if selected or hovered:
            painter.setRenderHint(painter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#dbe6fd") if selected else QColor("#eef2f7"))
            painter.drawRoundedRect(rect, 8, 8)
        metrics = option.fontMetrics
        text_rect = rect.adjusted(10, 7, -10, -7)
        title = metrics.elidedText(
            str(index.data()), Qt.TextElideMode.ElideRight, text_rect.width()
        )
        painter.setPen(option.palette.text().color())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, title)
        small = option.font
        small.setPointSizeF(small.pointSizeF() * 0.85)
        painter.setFont(small)
        painter.setPen(option.palette.placeholderText().color())
        subtitle = painter.fontMetrics().elidedText(
            str(index.data(SUBTITLE_ROLE) or ""), Qt.TextElideMode.ElideRight, text_rect.width()
        )
        painter.drawText(
            text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, subtitle
        )
        painter.restore()


class ConversationList(QWidget):
    conversation_selected = Signal(int)
    new_requested = Signal()
    rename_requested = Signal(int, str)
    delete_confirmed = Signal(int)

    def __init__(self, store: ChatStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversationList")
        self.model = ConversationListModel(store, self)
        self.model.renamed.connect(self.rename_requested)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search chats")
        self.search.setClearButtonEnabled(True)
        self.search.setStyleSheet(
            "QLineEdit { border: 1px solid palette(mid); border-radius: 8px; padding: 5px 8px;"
            " background: palette(base); } QLineEdit:focus { border-color: #3b82f6; }"
        )
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(lambda: self.refresh(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(_TwoLineDelegate(self.view))
        self.view.setMouseTracking(True)
        self.view.setFrameShape(QListView.Shape.NoFrame)
        self.view.setStyleSheet("QListView { background: transparent; }")
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.new_button = primary_button("+ New chat")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(self.new_requested)
        self.delete_action = QAction("Delete…", self)
        self.delete_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.delete_action.triggered.connect(self.ask_delete_current)
        self.view.addAction(self.delete_action)
        self.rename_action = QAction("Rename", self)
        self.rename_action.triggered.connect(self.rename_current)
        self.export = ExportActions(store, self.current_id, self)
        self._confirm: QMessageBox | None = None
        self._selecting = False
        box = QVBoxLayout(self)
        box.setContentsMargins(12, 12, 12, 12)
        box.setSpacing(10)
        box.addWidget(self.search)
        box.addWidget(self.view, 1)
        box.addWidget(self.new_button)

    def refresh(self, query: str | None = None, *, select: int | None = None) -> None:
        """Reload from the store, keeping (or moving to) the selected conversation."""
        keep = self.current_id() if select is None else select
        self.model.refresh(query)
        self.select(keep)

    def use_store(self, store: ChatStore) -> None:
        """List (and export from) ``store`` from now on."""
        self.model.use_store(store)
        self.export.use_store(store)

    def close_search(self) -> None:
        """No more searches (the store is closing)."""
        self._search_timer.stop()
        self.search.blockSignals(True)

    def select(self, conversation_id: int | None) -> None:
        row = self.model.row_of(conversation_id)
        self._selecting = True
        try:
            if row < 0:
                self.view.selectionModel().clearCurrentIndex()
                self.view.clearSelection()
            else:
                index = self.model.index(row)
                self.view.setCurrentIndex(index)
                self.view.scrollTo(index)
        finally:
            self._selecting = False

    def current_id(self) -> int | None:
        index = self.view.currentIndex()
        return index.data(ID_ROLE) if index.isValid() else None

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not self._selecting and current.isValid():
            self.conversation_selected.emit(int(current.data(ID_ROLE)))

    def rename_current(self) -> None:
        index = self.view.currentIndex()
        if index.isValid():
            self.view.edit(index)

    def ask_delete_current(self) -> QMessageBox | None:
        """Ask before deleting; `delete_confirmed` follows a Yes."""
        index = self.view.currentIndex()
        if not index.isValid():
            return None
        conversation_id, title = int(index.data(ID_ROLE)), str(index.data())
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete conversation",
            f"Delete “{title}” and all its messages? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.button(QMessageBox.StandardButton.Yes).setText("Delete")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def finished(result: int) -> None:
            if result == QMessageBox.StandardButton.Yes:
                self.delete_confirmed.emit(conversation_id)
            self._confirm = None

        box.finished.connect(finished)
        self._confirm = box
        box.open()
        return box

    def _context_menu(self, position: Any) -> None:
        index = self.view.indexAt(position)
        if not index.isValid():
            return
        self.view.setCurrentIndex(index)
        menu = QMenu(self)
        menu.addAction(self.rename_action)
        menu.addSeparator()
        for action in self.export.actions.values():
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.delete_action)
        menu.popup(self.view.viewport().mapToGlobal(position))
