"""The conversation: message widgets in one scroll area that follows the newest text.

New text goes to the last message only (`append_text`); the rest of the
history is not laid out again. Streamed text is drawn at most every 50 ms
(20 times a second reads as smooth, and each redraw re-lays out the reply's
Markdown: on a small machine that CPU is better left to llama.cpp). The view
sticks to the bottom while text streams, unless the person has scrolled up
to read; scrolling back to the bottom sticks again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from lmdesk.core.chats import Attachment, Message
from lmdesk.ui.pages.chat.message_widget import STYLE as MESSAGE_STYLE
from lmdesk.ui.pages.chat.message_widget import MessageWidget

MAX_READABLE_WIDTH = 820
SCROLLBAR_STYLE = """
QScrollBar:vertical { width: 10px; background: transparent; margin: 2px; }
QScrollBar::handle:vertical { background: palette(mid); border-radius: 3px; min-height: 32px; }
QScrollBar::add-line:vertical, QScrollBar::sub-line:vertical { height: 0px; }
QScrollBar::add-page:vertical, QScrollBar::sub-page:vertical { background: transparent; }
"""
STICK_SLACK_PX = 24
RENDER_INTERVAL_S = 0.05


class MessageView(QScrollArea):
    regenerate_requested = Signal(int)
    continue_requested = Signal(int)
    edit_submitted = Signal(int, str)
    """message id, new text."""
    copied = Signal(str)
    version_requested = Signal(int, int)
    """message id, step."""
    fork_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageView")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.verticalScrollBar().setStyleSheet(SCROLLBAR_STYLE)
        self._widgets: list[MessageWidget] = []
        self._busy = False
        self._model_continues = True
        self._stick = True
        self._pending: dict[int, list[str]] = {}
        self._pending_reasoning: dict[int, list[str]] = {}
        self._last_render = 0.0
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(self.flush_text)
        self._canvas = QWidget()
        self._canvas.setObjectName("messageCanvas")
        self._canvas.setStyleSheet(MESSAGE_STYLE)
        self._box = QVBoxLayout(self._canvas)
        self._box.setContentsMargins(20, 20, 20, 20)
        self._box.setSpacing(16)
        self.hint = QLabel("Send a message to start the conversation.")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("color: palette(placeholder-text); padding: 40px;")
        self._box.addWidget(self.hint)
        self._box.addStretch(1)
        self.setWidget(self._canvas)
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self._on_range_changed)
        bar.valueChanged.connect(self._on_scrolled)

    # -- content ------------------------------------------------------------------------------
    def widgets(self) -> list[MessageWidget]:
        return list(self._widgets)

    def widget_for(self, message_id: int) -> MessageWidget | None:
        return next((w for w in self._widgets if w.id == message_id), None)

    def set_messages(self, messages: list[Message]) -> None:
        self._pending.clear()
        self._pending_reasoning.clear()
        for widget in self._widgets:
            self._box.removeWidget(widget)
            widget.hide()  # gone from the view now, not when the event loop deletes it
            widget.deleteLater()
        self._widgets = []
        for message in messages:
            self._insert(message)
        self._stick = True
        self._refresh()
        self.scroll_to_bottom()

    def add_message(self, message: Message) -> MessageWidget:
        existing = self.widget_for(message.id)
        if existing is not None:
            existing.set_message(message)
            return existing
        widget = self._insert(message)
        self._refresh()
        return widget

    def update_message(self, message: Message) -> None:
        self._pending.pop(message.id, None)  # the message's full text replaces it
        self._pending_reasoning.pop(message.id, None)
        widget = self.widget_for(message.id)
        if widget is not None:
            widget.set_message(message)
            self._refresh()

    def append_text(self, message_id: int, text: str) -> None:
        """Streamed text for one message: only that widget changes, at most every 50 ms."""
        self._pending.setdefault(message_id, []).append(text)
        self._schedule()

    def append_reasoning(self, message_id: int, text: str) -> None:
        """Streamed thinking for one message, drawn like `append_text`."""
        self._pending_reasoning.setdefault(message_id, []).append(text)
        self._schedule()

    def _schedule(self) -> None:
        wait = self._last_render + RENDER_INTERVAL_S - time.monotonic()
        if wait <= 0:
            self.flush_text()
        elif not self._render_timer.isActive():
            self._render_timer.start(max(1, round(wait * 1000)))

    def flush_text(self) -> None:
        """Draw the streamed text received so far."""
        self._render_timer.stop()
        self._last_render = time.monotonic()
        thoughts, self._pending_reasoning = self._pending_reasoning, {}
        for message_id, parts in thoughts.items():
            widget = self._streaming_widget(message_id)
            if widget is not None:
                widget.append_reasoning("".join(parts))
        pending, self._pending = self._pending, {}
        for message_id, parts in pending.items():
            widget = self._streaming_widget(message_id)
            if widget is not None:
                widget.append_text("".join(parts))

    def _streaming_widget(self, message_id: int) -> MessageWidget | None:
        widget = self._widgets[-1] if self._widgets else None
        if widget is None or widget.id != message_id:
            widget = self.widget_for(message_id)
        return widget

    def set_versions(self, versions: Mapping[int, tuple[int, int]]) -> None:
        """‹ n/m › on each message with other versions (message id -> (n, m))."""
        for widget in self._widgets:
            widget.set_versions(*versions.get(widget.id, (1, 1)))

    def set_attachments(self, pictures: Mapping[int, Sequence[Attachment]]) -> None:
        """Thumbnails under the messages that have pictures."""
        for widget in self._widgets:
            found = pictures.get(widget.id, ())
            widget.set_images([(a.name, a.data) for a in found])

    def set_model_continues(self, continues: bool) -> None:
        """Offer Continue only when the loaded model can carry on a reply (a remote server's
        cannot: the OpenAI API answers each request anew)."""
        if continues != self._model_continues:
            self._model_continues = continues
            self._refresh()

    def set_busy(self, busy: bool) -> None:
        """Hide Regenerate/Continue/Edit while a reply is being written."""
        if busy != self._busy:
            self._busy = busy
            self._refresh()

    def _insert(self, message: Message) -> MessageWidget:
        widget = MessageWidget(message)
        widget.regenerate_requested.connect(self.regenerate_requested)
        widget.continue_requested.connect(self.continue_requested)
        widget.edit_submitted.connect(self.edit_submitted)
        widget.copied.connect(self.copied)
        widget.version_requested.connect(self.version_requested)
        widget.fork_requested.connect(self.fork_requested)
        widget.set_max_width(self._max_width())
        self._box.insertWidget(self._box.count() - 1, widget)
        self._widgets.append(widget)
        return widget

    def _refresh(self) -> None:
        self.hint.setVisible(not self._widgets)
        last = len(self._widgets) - 1
        for index, widget in enumerate(self._widgets):
            widget.set_position(
                is_last=index == last, busy=self._busy, model_continues=self._model_continues
            )

    # -- geometry and scrolling ---------------------------------------------------------------
    def _max_width(self) -> int:
        available = self.viewport().width() - 40
        return max(240, min(MAX_READABLE_WIDTH, int(available * 0.92)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        width = self._max_width()
        for widget in self._widgets:
            widget.set_max_width(width)

    @property
    def sticks_to_bottom(self) -> bool:
        return self._stick

    def scroll_to_bottom(self) -> None:
        self._stick = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._stick:
            self.verticalScrollBar().setValue(maximum)

    def _on_scrolled(self, value: int) -> None:
        self._stick = value >= self.verticalScrollBar().maximum() - STICK_SLACK_PX
