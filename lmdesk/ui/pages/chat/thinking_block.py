"""A reply's thinking: a collapsible block above the answer, with its own time and tokens.

While the model thinks the block is open and its text streams in ("Thinking…"); when
the answer starts it folds away to one line, "▸ Thought for 3.2 s · 120 tokens", which
opens it again. A person's own choice (opened or closed) is kept from then on. The
text is a `MessageBody`, so a long chain of thought re-lays out only its last paragraph.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QToolButton, QVBoxLayout, QWidget

from lmdesk.core.chats import Message
from lmdesk.ui.pages.chat.message_body import MessageBody

STYLE = """
#thinkingBlock { background: palette(alternate-base); border-left: 3px solid palette(mid);
                 border-radius: 6px; }
#thinkingBlock QToolButton { border: none; color: palette(placeholder-text); font-weight: 600;
                             text-align: left; padding: 2px 0px; background: transparent; }
#thinkingBlock QLabel { color: palette(placeholder-text); }
"""


class ThinkingBlock(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("thinkingBlock")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.toggle = QToolButton()
        self.toggle.setCheckable(True)
        self.toggle.setCursor(Qt.CursorShape.PointingHandCursor)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.toggle.clicked.connect(self._on_clicked)
        self.body = MessageBody(markdown=True)
        box = QVBoxLayout(self)
        box.setContentsMargins(10, 4, 10, 6)
        box.setSpacing(2)
        box.addWidget(self.toggle)
        box.addWidget(self.body)
        self._summary = ""
        self._thinking_now = False
        self._chosen: bool | None = None
        """The person's own open/closed choice; None until they click."""
        self.hide()

    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()

    def text(self) -> str:
        return self.body.text()

    def show_message(self, message: Message, *, answering: bool) -> None:
        """The saved message's thinking; ``answering``: the answer has begun (or it ended)."""
        stats = message.stats
        self._summary = stats.thinking_summary() if stats is not None else ""
        self.body.set_text(message.reasoning)
        self._thinking_now = message.state == "streaming" and not answering
        self.setVisible(bool(message.reasoning))
        self._refresh()

    def append(self, text: str) -> None:
        """More streamed thinking."""
        self._thinking_now = True
        self.body.append(text)
        if self.isHidden():
            self.show()
        self._refresh()

    def answer_started(self) -> None:
        """The answer began: fold the thinking away (unless the person opened it)."""
        if self._thinking_now:
            self._thinking_now = False
            self._refresh()

    def _on_clicked(self, checked: bool) -> None:
        self._chosen = checked
        self._refresh()

    def _refresh(self) -> None:
        open_ = self._chosen if self._chosen is not None else self._thinking_now
        self.toggle.setChecked(open_)
        self.body.setVisible(open_)
        arrow = "▾" if open_ else "▸"
        words = "Thinking…" if self._thinking_now else self._summary or "Thought"
        self.toggle.setText(f"{arrow} {words}")
