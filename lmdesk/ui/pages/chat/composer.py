"""The message box: Enter sends, Shift+Enter adds a line, Esc stops; Send/Stop; context gauge.

Pictures come by the Image… button, by dropping files or images on the box, or by pasting;
each is checked and made small off the GUI thread (`image_prep`), then waits as a
thumbnail until the message is sent. One that cannot be used says why (`image_refused`).
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QKeyEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lmdesk.ui.kit.widgets import PRIMARY_STYLE
from lmdesk.ui.pages.chat.attachments_strip import AttachmentsStrip
from lmdesk.ui.pages.chat.image_prep import png_bytes, prepare_image, read_and_prepare
from lmdesk.ui.services.background import BackgroundTask

MAX_LINES = 8
STOP_STYLE = """
QPushButton { background: #ef4444; color: white; border: none; border-radius: 8px;
              padding: 7px 16px; font-weight: 600; }
QPushButton:hover { background: #dc2626; }
"""
GAUGE_COLORS = (("#22c55e", 0.8), ("#f59e0b", 1.0), ("#ef4444", float("inf")))


class ComposerEdit(QPlainTextEdit):
    send_requested = Signal()
    stop_requested = Signal()
    media_pasted = Signal(object)
    """QMimeData with pictures (pasted or dropped on the text)."""

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return source.hasImage() or source.hasUrls() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        if source.hasImage() or source.hasUrls():
            self.media_pasted.emit(source)
            return
        super().insertFromMimeData(source)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            mods & Qt.KeyboardModifier.ShiftModifier
        ):
            self.send_requested.emit()
            return
        if key == Qt.Key.Key_Escape:
            self.stop_requested.emit()
            return
        super().keyPressEvent(event)


class ContextGauge(QWidget):
    """ "context 1,204 / 8,192 tokens" and a thin bar; amber near the limit, red over it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setStyleSheet("color: palette(placeholder-text);")
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setRange(0, 1000)
        self.bar.setFixedHeight(6)
        self.bar.setMinimumWidth(60)  # 180 when there is room; a narrow window shortens it
        self.bar.setMaximumWidth(180)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        row.addWidget(self.label)
        row.addWidget(self.bar, 1)
        row.addStretch(1)
        self.used = 0
        self.total = 0
        self.exact = False
        self._color = ""
        self.set_usage(0, 0)

    def set_usage(self, used: int, total: int, *, exact: bool = True) -> None:
        self.used, self.total, self.exact = used, total, exact
        if total <= 0:
            self.label.setText("context —")
            self.bar.setValue(0)
            self._paint_bar(GAUGE_COLORS[0][0])
            self.setToolTip("Load a model to see how much of its context this chat uses.")
            return
        approx = "" if exact else "~"
        self.label.setText(f"context {approx}{used:,} / {total:,} tokens")
        fraction = used / total
        color = next(c for c, limit in GAUGE_COLORS if fraction <= limit)
        self.bar.setValue(min(1000, round(fraction * 1000)))
        self._paint_bar(color)
        over = (
            "The conversation is longer than the context: the oldest messages will be "
            "left out (or the reply refused, per Settings › context policy)."
            if used > total
            else ""
        )
        how = "counted by the model" if exact else "estimated (exact count when the model is idle)"
        self.setToolTip(f"Tokens the next prompt takes, {how}. {over}".strip())

    def _paint_bar(self, color: str) -> None:
        """Restyle only when the colour changes: a style sheet is costly to apply per token."""
        if color == self._color:
            return
        self._color = color
        self.bar.setStyleSheet(
            "QProgressBar { background: palette(midlight); border: none; border-radius: 3px; }"
            f"QProgressBar::chunk {{ background: {color}; border-radius: 3px; }}"
        )


class Composer(QFrame):
    send_requested = Signal(str)
    """The text to send (the box is cleared by the page once it is accepted)."""
    stop_requested = Signal()
    draft_changed = Signal(str)
    image_refused = Signal(str)
    """why a picture was not attached (a sentence for a person)."""
    images_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.setAcceptDrops(True)
        self._images: list[tuple[str, bytes]] = []
        self._tasks: list[BackgroundTask] = []
        self.strip = AttachmentsStrip(removable=True)
        self.strip.removed.connect(self.remove_image)
        self.attach_button = QPushButton("Image…")
        self.attach_button.setToolTip("Attach a picture (or drop or paste one on the box)")
        self.attach_button.clicked.connect(self._choose_files)
        self._dialog: QFileDialog | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            "#composer { background: palette(base); border: 1px solid palette(mid);"
            " border-radius: 12px; }"
            "#composer QPlainTextEdit { border: none; background: transparent; }"
        )
        self._streaming = False
        self.edit = ComposerEdit()
        self.edit.setPlaceholderText("Message… (Enter to send, Shift+Enter for a new line)")
        self.edit.setTabChangesFocus(True)
        self.edit.send_requested.connect(self._send)
        self.edit.stop_requested.connect(self.stop_requested)
        self.edit.textChanged.connect(self._on_text_changed)
        self.edit.media_pasted.connect(self.add_mime)
        self.send_button = QPushButton("Send")
        self.send_button.setStyleSheet(PRIMARY_STYLE)
        self.send_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.send_button.clicked.connect(self._send)
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setStyleSheet(STOP_STYLE)
        self.stop_button.setToolTip("Stop the reply (Esc)")
        self.stop_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.stop_button.clicked.connect(self.stop_requested)
        self.stop_button.hide()
        self.gauge = ContextGauge()
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.gauge, 1)
        bottom.addWidget(self.attach_button)
        bottom.addWidget(self.stop_button)
        bottom.addWidget(self.send_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(14, 10, 10, 10)
        box.setSpacing(6)
        box.addWidget(self.strip)
        box.addWidget(self.edit)
        box.addLayout(bottom)
        self._fit_height()

    def text(self) -> str:
        return self.edit.toPlainText()

    def clear(self) -> None:
        self.edit.clear()
        self._images = []
        self._show_images()

    # -- pictures ---------------------------------------------------------------------------
    def images(self) -> list[tuple[str, bytes]]:
        """The pictures waiting to go with the next message: (name, PNG bytes)."""
        return list(self._images)

    def set_accepts_images(self, accepts: bool, reason: str = "") -> None:
        """Offer the Image… button only when the loaded model can see pictures."""
        self.attach_button.setVisible(accepts)
        self.attach_button.setToolTip(reason or self.attach_button.toolTip())

    def add_files(self, paths: list[str]) -> None:
        for path in paths:
            self._prepare(lambda p=path: read_and_prepare(p))

    def add_image_bytes(self, name: str, data: bytes) -> None:
        self._prepare(lambda: prepare_image(name, data))

    def add_mime(self, mime: QMimeData) -> None:
        if mime.hasUrls():
            self.add_files([url.toLocalFile() for url in mime.urls() if url.isLocalFile()])
        elif mime.hasImage():
            image = QImage(mime.imageData())
            if image.isNull():
                self.image_refused.emit("The pasted picture could not be read.")
            else:
                self.add_image_bytes("pasted.png", png_bytes(image))

    def remove_image(self, index: int) -> None:
        if 0 <= index < len(self._images):
            del self._images[index]
            self._show_images()

    def wait(self) -> None:
        """Let pictures being prepared finish (shutdown, tests)."""
        for task in list(self._tasks):
            task.wait(10)

    def _choose_files(self) -> None:
        dialog = QFileDialog(self, "Attach pictures")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.setNameFilter("Images (*.png *.jpg *.jpeg *.gif *.bmp *.webp)")
        dialog.filesSelected.connect(self.add_files)
        self._dialog = dialog
        dialog.open()

    def _prepare(self, work: object) -> None:
        task = BackgroundTask(lambda _progress: work(), name="image", parent=self)  # type: ignore[operator]
        task.sig_done.connect(self._on_prepared)
        task.sig_failed.connect(lambda message, _tb: self._on_refused(message))
        task.sig_finished.connect(lambda: self._tasks.remove(task))
        self._tasks.append(task)
        task.start()

    def _on_prepared(self, prepared: tuple[str, bytes]) -> None:
        self._images.append(prepared)
        self._show_images()

    def _on_refused(self, message: str) -> None:
        self.image_refused.emit(message)

    def _show_images(self) -> None:
        self.strip.set_images(self._images)
        self.images_changed.emit()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.add_mime(event.mimeData())
        event.acceptProposedAction()

    def set_placeholder(self, text: str) -> None:
        self.edit.setPlaceholderText(text)

    def set_streaming(self, streaming: bool) -> None:
        self._streaming = streaming
        self.stop_button.setVisible(streaming)
        self.send_button.setVisible(not streaming)

    def set_can_send(self, can_send: bool, reason: str = "") -> None:
        """Enable Send; the box stays editable so a draft can be written meanwhile."""
        self.send_button.setEnabled(can_send)
        self.send_button.setToolTip(reason)

    def _send(self) -> None:
        # Enter while Send is disabled still asks: the page then says why (no model yet).
        if self._streaming:
            return
        text = self.text()
        if text.strip() or self._images:
            self.send_requested.emit(text)

    def _on_text_changed(self) -> None:
        self._fit_height()
        self.draft_changed.emit(self.text())

    def _fit_height(self) -> None:
        lines = max(1, min(MAX_LINES, self.edit.document().blockCount()))
        wrapped = max(lines, min(MAX_LINES, int(self.edit.document().size().height())))
        height = wrapped * self.edit.fontMetrics().lineSpacing() + 12
        self.edit.setFixedHeight(max(height, 2 * self.edit.fontMetrics().lineSpacing() + 12))
