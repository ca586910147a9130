"""One message: a bubble (the person's) or a card (the model's), with its footer.

The body renders the text (Markdown and code blocks for replies, see
``message_body``); the footer under it shows the stats line and the actions
(``message_footer``): replies show "128 tokens · 24 tok/s · first token
0.31 s · stopped: end of text" and ⟳ Regenerate · ✎ Edit · Copy; a reply cut
off by a crash says "interrupted" and offers Continue. Editing happens in
place (``inline_editor``). ``STYLE`` styles all three.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from lmdesk.core.chats import Message
from lmdesk.ui.pages.chat.attachments_strip import AttachmentsStrip
from lmdesk.ui.pages.chat.inline_editor import InlineEditor
from lmdesk.ui.pages.chat.message_body import MessageBody
from lmdesk.ui.pages.chat.message_footer import MessageFooter
from lmdesk.ui.pages.chat.thinking_block import STYLE as THINKING_STYLE
from lmdesk.ui.pages.chat.thinking_block import ThinkingBlock

STYLE = (
    """
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
    + THINKING_STYLE
)


class MessageWidget(QWidget):
    regenerate_requested = Signal(int)
    """message id of the reply to write again."""
    continue_requested = Signal(int)
    """message id of the reply to carry on."""
    edit_submitted = Signal(int, str)
    """message id, new text (a user message is then resent; a reply is only saved)."""
    copied = Signal(str)
    version_requested = Signal(int, int)
    """message id, step (-1: the previous version, +1: the next)."""
    fork_requested = Signal(int)
    """message id: a new chat up to this message."""

    def __init__(self, message: Message, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = message
        self._is_last = False
        self._busy = False
        self._model_continues = True
        is_user = message.role == "user"
        self.bubble = QFrame()
        self.bubble.setObjectName("userBubble" if is_user else "assistantCard")
        self.bubble.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.body = MessageBody(markdown=not is_user)
        self.body.copied.connect(self.copied)
        self.thinking = ThinkingBlock()
        self.pictures = AttachmentsStrip(removable=False)
        self._picture_count = 0
        self._inline: InlineEditor | None = None  # built on first Edit: most never are
        self._max_width = 16_777_215
        inner = QVBoxLayout(self.bubble)
        inner.setContentsMargins(16, 10, 16, 12) if is_user else inner.setContentsMargins(
            16, 14, 16, 14
        )
        inner.addWidget(self.pictures)
        if not is_user:
            inner.addWidget(self.thinking)
        inner.addWidget(self.body)
        self._inner = inner

        footer = MessageFooter(is_user=is_user)
        self._footer = footer
        self.badge = footer.badge
        self.stats = footer.stats
        self.regenerate_button = footer.regenerate_button
        self.continue_button = footer.continue_button
        self.edit_button = footer.edit_button
        self.copy_button = footer.copy_button
        self.regenerate_button.clicked.connect(lambda: self.regenerate_requested.emit(self.id))
        self.continue_button.clicked.connect(lambda: self.continue_requested.emit(self.id))
        self.edit_button.clicked.connect(self.start_edit)
        self.copy_button.clicked.connect(self.copy)
        self.fork_button = footer.fork_button
        self.previous_button = footer.previous_button
        self.next_button = footer.next_button
        self.versions = footer.versions
        self._versions = (1, 1)
        self.previous_button.clicked.connect(lambda: self.version_requested.emit(self.id, -1))
        self.next_button.clicked.connect(lambda: self.version_requested.emit(self.id, 1))
        self.fork_button.clicked.connect(lambda: self.fork_requested.emit(self.id))
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
        self.thinking.show_message(message, answering=bool(message.content))
        self.body.set_text(message.content, cursor=self.streaming)
        self._refresh_footer()

    def append_text(self, text: str) -> None:
        """More streamed text: only this message's last block is laid out again."""
        if text:
            self.thinking.answer_started()
        self.body.append(text)

    def set_images(self, images: list[tuple[str, bytes]]) -> None:
        """Thumbnails of the message's pictures (drawn again only when they change)."""
        if len(images) != self._picture_count:
            self._picture_count = len(images)
            self.pictures.set_images(images)
            self.set_max_width(self._max_width)

    def append_reasoning(self, text: str) -> None:
        """More streamed thinking (shown in the Thinking block above the answer)."""
        self.thinking.append(text)

    def text(self) -> str:
        return self.body.text()

    def set_position(self, *, is_last: bool, busy: bool, model_continues: bool = True) -> None:
        """Whether this is the conversation's last message, whether a reply is running, and
        whether the loaded model can carry on a reply (Continue)."""
        state = (is_last, busy, model_continues)
        if state != (self._is_last, self._busy, self._model_continues):
            self._is_last, self._busy, self._model_continues = state
            self._refresh_footer()

    def set_max_width(self, width: int) -> None:
        self._max_width = width
        if self.editing:
            self.bubble.setMinimumWidth(min(360, width))
            self.bubble.setMaximumWidth(width)
        elif self.message.role == "user":
            pictures = self.pictures.sizeHint().width() if self._picture_count else 0
            wanted = max(self.body.prose_width(width - 32), pictures) + 32
            self.bubble.setFixedWidth(max(120, min(width, wanted)))
        else:
            self.bubble.setMaximumWidth(width)

    def set_versions(self, index: int, count: int) -> None:
        """Where this message stands among its versions (‹ index/count ›)."""
        self._versions = (index, count)
        self._refresh_footer()

    def _refresh_footer(self) -> None:
        self._footer.show_state(
            self.message,
            is_last=self._is_last,
            busy=self._busy,
            model_continues=self._model_continues,
        )
        self._footer.show_versions(*self._versions, busy=self._busy)

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

    def _editor(self) -> InlineEditor:
        if self._inline is None:
            self._inline = InlineEditor("Send" if self.message.role == "user" else "Save")
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
