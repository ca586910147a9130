"""One message: a bubble (the person's) or a card (the model's), its stats line and actions.

Replies show "128 tokens · 24 tok/s · first token 0.31 s · stopped: end of
text" and ⟳ Regenerate · ✎ Edit · Copy; a reply cut off by a crash says
"interrupted" and offers Continue. Editing happens in place.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core.chats import Message
from lmdesk.ui.chat.formatting import stats_line
from lmdesk.ui.chat.message_body import MessageBody
from lmdesk.ui.widgets import primary_button, secondary_button

CONTINUABLE_STATES = ("interrupted", "stopped", "error")
CONTINUABLE_STOPS = ("max_tokens",)

STYLE = """
/* Set once on the message view's canvas (one style sheet for every message is much
   cheaper than one per message). */
#userBubble { background: #e8effd; border-radius: 14px; }
#assistantCard { background: palette(base); border: 1px solid palette(midlight);
                 border-radius: 12px; }
QLabel#stats { color: palette(placeholder-text); }
QLabel#badge-interrupted { color: #92400e; background: #fef3c7; border-radius: 8px;
                           padding: 1px 8px; font-weight: 600; }
QLabel#badge-error { color: #991b1b; background: #fee2e2; border-radius: 8px;
                     padding: 1px 8px; font-weight: 600; }
QLabel#badge-streaming { color: #1d4ed8; }
QToolButton[action="true"] { color: palette(placeholder-text); border: none; padding: 1px 4px;
                             background: transparent; }
QToolButton[action="true"]:hover { color: #2563eb; }
"""


class _ActionButton(QToolButton):
    """A link-like button exactly as wide as its text (the style's minimum width for
    tool buttons leaves odd gaps between "Edit" and "Copy")."""

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self.text()) + 12, hint.height())

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()


class _StatsLabel(QLabel):
    """One line when there is room, wrapped when the window is narrow (a word-wrapped
    QLabel otherwise settles for a compromise width and wraps even with room to spare)."""

    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self.text()) + 4, hint.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(min(self.sizeHint().width(), 120), super().minimumSizeHint().height())


def _action(text: str, tip: str) -> QToolButton:
    button = _ActionButton()
    button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    button.setText(text)
    button.setToolTip(tip)
    button.setProperty("action", True)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


class _Editor(QPlainTextEdit):
    submitted = Signal()
    cancelled = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
        elif event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
        else:
            super().keyPressEvent(event)


class MessageWidget(QWidget):
    regenerate_requested = Signal(int)
    """message id of the reply to write again."""
    continue_requested = Signal(int)
    """message id of the reply to carry on."""
    edit_submitted = Signal(int, str)
    """message id, new text (a user message is then resent; a reply is only saved)."""
    copied = Signal(str)

    def __init__(self, message: Message, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = message
        self._is_last = False
        self._busy = False
        is_user = message.role == "user"
        self.bubble = QFrame()
        self.bubble.setObjectName("userBubble" if is_user else "assistantCard")
        self.bubble.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.body = MessageBody(markdown=not is_user)
        self.body.copied.connect(self.copied)
        self._inline: _InlineEditor | None = None  # built on first Edit: most never are
        self._max_width = 16_777_215
        inner = QVBoxLayout(self.bubble)
        inner.setContentsMargins(16, 10, 16, 12) if is_user else inner.setContentsMargins(
            16, 14, 16, 14
        )
        inner.addWidget(self.body)
        self._inner = inner

        self.badge = QLabel()
        self.stats = _StatsLabel()  # a narrow window wraps the numbers, not the buttons
        self.stats.setObjectName("stats")
        self.regenerate_button = _action("⟳ Regenerate", "Write this reply again")
        self.continue_button = _action("▸ Continue", "Let the model carry on from here")
        self.edit_button = _action(
            "✎ Edit", "Edit and resend (later messages are replaced)" if is_user else "Edit"
        )
        self.copy_button = _action("Copy", "Copy the message")
        self.regenerate_button.clicked.connect(lambda: self.regenerate_requested.emit(self.id))
        self.continue_button.clicked.connect(lambda: self.continue_requested.emit(self.id))
        self.edit_button.clicked.connect(self.start_edit)
        self.copy_button.clicked.connect(self.copy)
        footer = QHBoxLayout()
        footer.setContentsMargins(4, 0, 4, 0)
        footer.setSpacing(6)
        if is_user:
            footer.addStretch(1)
        footer.addWidget(self.badge)
        footer.addWidget(self.stats)
        for button in (
            self.continue_button,
            self.regenerate_button,
            self.edit_button,
            self.copy_button,
        ):
            footer.addWidget(button)
        if not is_user:
            footer.addStretch(1)
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        column.addWidget(self.bubble)
        column.addLayout(footer)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        if is_user:
            row.addStretch(1)
        row.addLayout(column, 0 if is_user else 1)
        if not is_user:
            row.addStretch(0)
        self.set_message(message)

    @property
    def id(self) -> int:
        return self.message.id

    @property
    def streaming(self) -> bool:
        return self.message.state == "streaming"

    # -- content ------------------------------------------------------------------------------
    def set_message(self, message: Message) -> None:
        self.message = message
        self.body.set_text(message.content, cursor=self.streaming)
        self._refresh_footer()

    def append_text(self, text: str) -> None:
        """More streamed text: only this message's last block is laid out again."""
        self.body.append(text)

    def text(self) -> str:
        return self.body.text()

    def set_position(self, *, is_last: bool, busy: bool) -> None:
        """Whether this is the conversation's last message, and whether a reply is running."""
        if (is_last, busy) != (self._is_last, self._busy):
            self._is_last, self._busy = is_last, busy
            self._refresh_footer()

    def set_max_width(self, width: int) -> None:
        self._max_width = width
        if self.editing:
            self.bubble.setMinimumWidth(min(360, width))
            self.bubble.setMaximumWidth(width)
        elif self.message.role == "user":
            wanted = self.body.prose_width(width - 32) + 32
            self.bubble.setFixedWidth(max(120, min(width, wanted)))
        else:
            self.bubble.setMaximumWidth(width)

    def _refresh_footer(self) -> None:
        m = self.message
        streaming = self.streaming
        state_badges = {"interrupted": "interrupted", "error": "error"}
        badge = "writing…" if streaming else state_badges.get(m.state, "")
        self.badge.setText(badge)
        self.badge.setObjectName(f"badge-{'streaming' if streaming else m.state}")
        self.badge.setVisible(bool(badge))
        self.badge.style().unpolish(self.badge)  # the object name picks the style sheet rule
        self.badge.style().polish(self.badge)
        self.badge.setToolTip(
            "The app closed before this reply finished; the text saved so far is kept."
            if m.state == "interrupted"
            else ""
        )
        line = "" if m.role == "user" or streaming else stats_line(m.stats)
        self.stats.setText(line)
        self.stats.setVisible(bool(line))
        idle = not streaming and not self._busy
        is_reply = m.role == "assistant"
        stop_reason = m.stats.stop_reason if m.stats else None
        can_continue = m.state in CONTINUABLE_STATES or stop_reason in CONTINUABLE_STOPS
        self.regenerate_button.setVisible(is_reply and self._is_last and idle)
        self.continue_button.setVisible(
            is_reply and self._is_last and idle and can_continue and bool(m.content)
        )
        self.edit_button.setVisible(idle)
        self.copy_button.setVisible(not streaming)

    # -- actions ------------------------------------------------------------------------------
    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.body.text())
        self.copied.emit(self.body.text())

    @property
    def editor(self) -> QPlainTextEdit:
        return self._editor().text

    @property
    def save_button(self) -> QPushButton:
        return self._editor().save_button

    def _editor(self) -> _InlineEditor:
        if self._inline is None:
            self._inline = _InlineEditor("Send" if self.message.role == "user" else "Save")
            self._inline.hide()
            self._inline.submitted.connect(self._submit_edit)
            self._inline.cancelled.connect(self.cancel_edit)
            self._inner.addWidget(self._inline)
        return self._inline

    @property
    def editing(self) -> bool:
        return self._inline is not None and not self._inline.isHidden()

    def start_edit(self) -> None:
        inline = self._editor()
        inline.start(self.body.text())
        self.body.hide()
        inline.show()
        self.bubble.setMinimumWidth(min(360, self._max_width))
        self.bubble.setMaximumWidth(self._max_width)
        inline.text.setFocus()

    def cancel_edit(self) -> None:
        if self._inline is not None:
            self._inline.hide()
        self.body.show()
        self.bubble.setMinimumWidth(0)
        self.set_max_width(self._max_width)

    def _submit_edit(self) -> None:
        text = self.editor.toPlainText()
        if not text.strip():
            return
        self.cancel_edit()
        self.edit_submitted.emit(self.id, text)


class _InlineEditor(QWidget):
    """The text box and Send/Save · Cancel that replace a message while it is edited."""

    submitted = Signal()
    cancelled = Signal()

    def __init__(self, action: str) -> None:
        super().__init__()
        self.text = _Editor()
        self.text.submitted.connect(self.submitted)
        self.text.cancelled.connect(self.cancelled)
        self.save_button = primary_button(action)
        self.cancel_button = secondary_button("Cancel")
        self.save_button.clicked.connect(self.submitted)
        self.cancel_button.clicked.connect(self.cancelled)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.text)
        box.addLayout(buttons)

    def start(self, text: str) -> None:
        self.text.setPlainText(text)
        lines = max(2, min(12, text.count("\n") + 2))
        self.text.setFixedHeight(lines * self.text.fontMetrics().lineSpacing() + 16)
